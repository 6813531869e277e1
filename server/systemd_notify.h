#ifndef TAALA_SERVER_SYSTEMD_NOTIFY_H_
#define TAALA_SERVER_SYSTEMD_NOTIFY_H_

// The service manager's readiness protocol (sd_notify(3), for systemd's
// Type=notify), without libsystemd: one datagram to the AF_UNIX socket named
// by $NOTIFY_SOCKET ("@name" is an abstract socket). taalad sends READY=1
// once recovery is over and it serves, STOPPING=1 when a signal stops it.

#include "absl/strings/string_view.h"

namespace taala {

// Sends `state` (e.g. "READY=1\nSTATUS=serving on 0.0.0.0:7070"). False when
// $NOTIFY_SOCKET is unset (not started by a service manager: nothing to do)
// or the datagram could not be sent. Never blocks.
bool NotifyServiceManager(absl::string_view state);

}  // namespace taala

#endif  // TAALA_SERVER_SYSTEMD_NOTIFY_H_
