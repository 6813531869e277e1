#include "client/keepalive_loop.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/wire_time.h"
#include "taala/v1/lock_service.grpc.pb.h"

namespace taala {

KeepAliveLoop::KeepAliveLoop(RpcCaller* caller, uint64_t session_id,
                             absl::Duration ttl, absl::Time created_at,
                             Callbacks callbacks)
    : caller_(caller),
      id_(session_id),
      ttl_(ttl),
      callbacks_(std::move(callbacks)),
      lease_(ttl, created_at) {
  PublishConfirmedUntil(lease_.confirmed_until());
}

KeepAliveLoop::~KeepAliveLoop() { Stop(); }

void KeepAliveLoop::Start() {
  absl::MutexLock join_lock(&join_mu_);
  thread_ = std::thread([this] {
    keepalive_tid_.store(std::this_thread::get_id());
    Run();
    NotifyLost();
  });
  event_thread_ = std::thread([this] {
    event_tid_.store(std::this_thread::get_id());
    RunEvents();
  });
}

void KeepAliveLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (stream_ctx_ != nullptr) stream_ctx_->TryCancel();
  }
  absl::MutexLock join_lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
  if (event_thread_.joinable()) event_thread_.join();
}

bool KeepAliveLoop::lost() const {
  return lost_.load(std::memory_order_acquire) ||
         SteadyNow() >= absl::FromUnixNanos(confirmed_until_ns_.load(
                            std::memory_order_acquire));
}

absl::Status KeepAliveLoop::lost_status() const {
  absl::MutexLock lock(&mu_);
  if (lost_status_.ok() && lost()) {
    // Past the confirmed lease; the keepalive thread has not said so yet.
    return absl::UnavailableError(NoConfirmationMessage());
  }
  return lost_status_;
}

bool KeepAliveLoop::MarkClosed() {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  closed_ = true;
  if (lost_status_.ok()) {
    lost_status_ =
        absl::NotFoundError(absl::StrCat("session ", id_, " was closed"));
  }
  lost_.store(true, std::memory_order_release);
  return true;
}

bool KeepAliveLoop::OnOwnThread() const {
  const std::thread::id self = std::this_thread::get_id();
  return self == keepalive_tid_.load() || self == reader_tid_.load() ||
         self == event_tid_.load();
}

std::string KeepAliveLoop::NoConfirmationMessage() const {
  return absl::StrCat("session ", id_,
                      ": no keepalive confirmed for a whole TTL (",
                      absl::FormatDuration(ttl_), ")");
}

void KeepAliveLoop::PublishConfirmedUntil(absl::Time t) {
  confirmed_until_ns_.store(absl::ToUnixNanos(t), std::memory_order_release);
}

void KeepAliveLoop::MarkLost(absl::Status why) {
  absl::MutexLock lock(&mu_);
  if (lost_.load() || closed_) return;
  lost_status_ = std::move(why);
  lost_.store(true, std::memory_order_release);
  // Wakes Run (its waits watch lost_) and ends its stream.
  if (stream_ctx_ != nullptr) stream_ctx_->TryCancel();
}

void KeepAliveLoop::EndedByServer(absl::Status why) {
  MarkLost(std::move(why));
}

void KeepAliveLoop::NotifyLost() {
  absl::Status why;
  {
    absl::MutexLock lock(&mu_);
    if (!lost_.load() || closed_ || lost_notified_) return;
    lost_notified_ = true;
    why = lost_status_;
  }
  if (callbacks_.on_lost) callbacks_.on_lost(why);
}

bool KeepAliveLoop::WaitToReconnect(size_t endpoint, absl::Time until) {
  // A connected channel whose stream failed (a draining server, say):
  // back off. A channel that is down: watch it in short slices (so that
  // Stop is not kept waiting), and go as soon as it connects.
  const bool down = !caller_->Connected(endpoint);
  constexpr absl::Duration kSlice = absl::Milliseconds(100);
  auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || lost_.load();
  };
  while (true) {
    absl::Duration left;
    {
      absl::MutexLock lock(&mu_);
      left = until - SteadyNow();
      if (stop()) return false;
      if (left <= absl::ZeroDuration()) return true;
      if (!down) {
        mu_.AwaitWithTimeout(absl::Condition(&stop), left);
        continue;
      }
    }
    if (caller_->WaitForConnected(endpoint, std::min(kSlice, left))) {
      absl::MutexLock lock(&mu_);
      return !stop();
    }
  }
}

void KeepAliveLoop::Handle(const v1::KeepAliveResponse& msg) {
  if (msg.has_ttl_ms()) {
    absl::MutexLock lock(&mu_);
    lease_.RecordAck(msg.request_sequence());
    PublishConfirmedUntil(lease_.confirmed_until());
    return;
  }
  if (!msg.has_event()) return;
  const v1::SessionEvent& e = msg.event();
  if (e.type() == v1::SessionEvent::SESSION_EXPIRED) {
    MarkLost(absl::NotFoundError(
        absl::StrCat("session ", id_, " expired: ", e.reason())));
    return;
  }
  absl::MutexLock lock(&mu_);
  // A new stream resends what was not acknowledged: each event once. (An
  // older server numbers nothing: sequence 0.)
  if (e.sequence() != 0) {
    if (e.sequence() <= received_sequence_) return;
    received_sequence_ = e.sequence();
  }
  events_.push_back(e);
}

void KeepAliveLoop::RunEvents() {
  while (true) {
    v1::SessionEvent e;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !events_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      e = std::move(events_.front());
      events_.pop_front();
    }
    if (callbacks_.on_event) callbacks_.on_event(e);
    absl::MutexLock lock(&mu_);
    handled_sequence_ = std::max(handled_sequence_, e.sequence());
  }
}

void KeepAliveLoop::Run() {
  absl::Duration backoff = caller_->options().retry.initial_backoff;
  v1::KeepAliveRequest request;
  request.set_session_id(id_);
  while (true) {
    grpc::ClientContext ctx;
    caller_->AddCredentials(&ctx);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_ || lost_.load()) return;
      stream_ctx_ = &ctx;
      stream_broken_ = false;
      lease_.StartStream();
    }
    const size_t endpoint = caller_->current();
    auto stream = caller_->stub(endpoint).KeepAlive(&ctx);
    std::thread reader([&] {
      reader_tid_.store(std::this_thread::get_id());
      v1::KeepAliveResponse msg;
      while (stream->Read(&msg)) Handle(msg);
      absl::MutexLock lock(&mu_);
      stream_broken_ = true;
    });
    while (true) {
      const absl::Time now = SteadyNow();
      absl::Duration wait;
      {
        absl::MutexLock lock(&mu_);
        if (stopping_ || lost_.load() || stream_broken_) break;
        if (lease_.Expired(now)) break;  // Lost; decided below.
        request.set_request_sequence(lease_.RecordSent(now));
        request.set_acked_event_sequence(handled_sequence_);
        wait = lease_.NextWait(now);
      }
      if (!stream->Write(request)) break;
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || lost_.load() || stream_broken_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), wait);
    }
    {
      absl::MutexLock lock(&mu_);
      // The reader ends by itself when the server finished the stream;
      // otherwise (stopping, lost, a failed write, no confirmation for a
      // TTL) the stream is abandoned.
      if (!stream_broken_) ctx.TryCancel();
    }
    reader.join();
    const grpc::Status status = stream->Finish();
    absl::Time confirmed_until;
    bool acked;
    {
      absl::MutexLock lock(&mu_);
      stream_ctx_ = nullptr;
      if (stopping_) return;
      confirmed_until = lease_.confirmed_until();
      acked = lease_.acked_on_stream();
    }
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      caller_->ReportSuccess();  // The server answered: it is up.
      MarkLost(FromGrpc(status));
      return;
    }
    if (lost_.load()) return;
    if (SteadyNow() >= confirmed_until) {
      MarkLost(absl::UnavailableError(absl::StrCat(
          NoConfirmationMessage(), "; last error: ", status.error_message())));
      return;
    }
    if (status.error_code() == grpc::StatusCode::ABORTED) {
      // Another stream of this session took it over (the session is in
      // use elsewhere too): the server is up, but taking it back at once
      // would make the two streams ping-pong, so the backoff keeps growing.
      caller_->ReportSuccess();
    } else if (acked) {
      // The stream worked for a while: start the backoff afresh.
      caller_->ReportSuccess();
      backoff = caller_->options().retry.initial_backoff;
    } else {
      caller_->ReportFailure(endpoint);
    }
    // Reconnect after a backoff, never past the point the lease is lost.
    const absl::Time until =
        std::min(SteadyNow() + caller_->Jitter(backoff), confirmed_until);
    backoff = caller_->NextBackoff(backoff);
    if (!WaitToReconnect(caller_->current(), until)) return;
  }
}

}  // namespace taala
