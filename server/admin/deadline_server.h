#ifndef TAALA_SERVER_ADMIN_DEADLINE_SERVER_H_
#define TAALA_SERVER_ADMIN_DEADLINE_SERVER_H_

// An httplib::Server whose connections each have a total time budget, so a
// client that sends its request (or reads the answer) a trickle at a time
// cannot hold one of the listener's few threads for long: httplib's own
// timeouts bound each read and write, never their sum, and a client
// sending a header line every second is never dropped.
//
// Each connection serves one request (then "Connection: close"; a scraper
// reconnects). Reading the request must end within `read_request` of the
// connection's accept (not of a thread taking it: one that waited in the
// queue past it gets `queued_grace` only, its request, if sent, already
// buffered, so a crowd of idle connections cannot each hold a thread for a
// fresh budget); writing the answer within `write_response` of its first
// byte. Past either, the connection is closed unanswered. The time the
// handler takes between the two is the handler's own (the admin
// pages' calls have deadlines: AdminServer::Options::call_deadline).
//
// Thread safety: as httplib::Server.

#include <httplib.h>

#include "absl/time/time.h"

namespace taala::admin {

class DeadlineServer : public httplib::Server {
 public:
  struct Budget {
    absl::Duration read_request = absl::Seconds(3);
    absl::Duration write_response = absl::Seconds(5);
    absl::Duration queued_grace = absl::Milliseconds(100);
  };
  explicit DeadlineServer(Budget budget) : budget_(budget) {}

  // Serve with `threads` threads, noting when each connection was accepted
  // (set before listening; replaces new_task_queue).
  void UseThreads(int threads);

 private:
  // Replaces httplib's loop (keep-alive, per-read timeouts only): one
  // request read and answered through a DeadlineStream, then the socket is
  // closed here.
  bool process_and_close_socket(socket_t sock) override;

  const Budget budget_;
};

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_DEADLINE_SERVER_H_
