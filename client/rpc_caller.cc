#include "client/rpc_caller.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace taala {
namespace {

// taalad's own CANCELLED answers (server/core/shard_acquire.cc, shard.cc,
// multi_acquire.cc): a waiting Acquire taken over by a newer one of its
// session, or one whose caller went away. Any other CANCELLED comes from
// gRPC, not from taalad.
bool TaaladCancelled(const grpc::Status& s) {
  return absl::StrContains(s.error_message(), "superseded") ||
         absl::StrContains(s.error_message(), "cancelled by the caller");
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(const TlsOptions& tls) {
  if (!tls.enabled) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls.root_certs_pem;
  ssl.pem_cert_chain = tls.cert_chain_pem;
  ssl.pem_private_key = tls.private_key_pem;
  return grpc::SslCredentials(ssl);
}

}  // namespace

bool CutInTransit(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         (s.error_code() == grpc::StatusCode::CANCELLED && !TaaladCancelled(s));
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

void SetTimeout(grpc::ClientContext* ctx, absl::Duration timeout) {
  if (timeout != absl::InfiniteDuration()) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
}

RpcCaller::RpcCaller(ClientOptions options)
    : options_(std::move(options)),
      bearer_metadata_(absl::StrCat("Bearer ", options_.bearer_token)),
      breaker_(options_.circuit_breaker) {
  const std::shared_ptr<grpc::ChannelCredentials> creds =
      Credentials(options_.tls);
  for (const std::string& endpoint : options_.endpoints) {
    grpc::ChannelArguments args;
    // Reconnect soon after a restart: the circuit breaker, not gRPC's
    // reconnect backoff (up to 2 minutes by default), paces the probes.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // Detect a black-holed connection (no RST ever comes) within ~15 s,
    // also under a long waiting Acquire. taalad permits these pings.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    auto channel = grpc::CreateCustomChannel(endpoint, creds, args);
    stubs_.push_back(v1::LockService::NewStub(channel));
    channels_.push_back(std::move(channel));
  }
  std::random_device seed;
  rng_.seed(seed());
}

void RpcCaller::AddCredentials(grpc::ClientContext* ctx) const {
  if (!options_.bearer_token.empty()) {
    ctx->AddMetadata("authorization", bearer_metadata_);
  }
}

CircuitState RpcCaller::circuit_state() const {
  return breaker_.state(absl::Now());
}

grpc::Status RpcCaller::Call(Attempt attempt) {
  absl::Duration backoff = options_.retry.initial_backoff;
  for (int n = 1;; ++n) {
    if (!breaker_.Allow(absl::Now())) {
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("circuit breaker open: taalad at ",
                       absl::StrJoin(options_.endpoints, ", "),
                       " has been unreachable; failing fast"));
    }
    const size_t i = current_.load();
    grpc::ClientContext ctx;
    AddCredentials(&ctx);
    grpc::Status status = attempt(*stubs_[i], &ctx);
    // `ctx` is this attempt's alone and nothing cancels it, so a CANCELLED
    // that is not one of taalad's answers is gRPC's: taalad's server, as it
    // shuts down (a drain), cancels the calls it had accepted but not yet
    // handed to taalad (they were not served). Like UNAVAILABLE: retried,
    // and UNAVAILABLE to the caller if it still fails.
    const bool cut = CutInTransit(status);
    if (cut || status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      ReportFailure(i);
    } else {
      ReportSuccess();
    }
    if (!cut) return status;
    if (n >= options_.retry.max_attempts) {
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) return status;
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("taalad at ", options_.endpoints[i],
                       " cancelled the call unanswered (it is shutting down "
                       "or went away): ",
                       status.error_message()));
    }
    absl::SleepFor(Jitter(backoff));
    backoff = NextBackoff(backoff);
  }
}

void RpcCaller::ReportFailure(size_t i) {
  breaker_.RecordFailure(absl::Now());
  current_.compare_exchange_strong(i, (i + 1) % stubs_.size());
}

void RpcCaller::ReportSuccess() { breaker_.RecordSuccess(); }

bool RpcCaller::Connected(size_t i) {
  return channels_[i]->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
}

bool RpcCaller::WaitForConnected(size_t i, absl::Duration timeout) {
  return channels_[i]->WaitForConnected(
      std::chrono::system_clock::now() +
      absl::ToChronoNanoseconds(std::max(absl::ZeroDuration(), timeout)));
}

absl::Duration RpcCaller::Jitter(absl::Duration d) {
  absl::MutexLock lock(&rng_mu_);
  std::uniform_real_distribution<double> factor(1 - options_.retry.jitter,
                                                1 + options_.retry.jitter);
  return d * factor(rng_);
}

absl::Duration RpcCaller::NextBackoff(absl::Duration d) const {
  return std::min(options_.retry.max_backoff, d * options_.retry.multiplier);
}

absl::Status RpcCaller::CheckHealth() {
  grpc::Status last(grpc::StatusCode::UNAVAILABLE, "no endpoint answered");
  for (size_t i = 0; i < channels_.size(); ++i) {
    grpc::GenericStub generic(channels_[i]);
    grpc::ClientContext ctx;
    AddCredentials(&ctx);
    SetTimeout(&ctx, options_.call_timeout);
    grpc::Slice empty_message("");
    grpc::ByteBuffer request(&empty_message, 1);
    grpc::ByteBuffer response;
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check",
                      grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();
    if (!status.ok()) {
      last = status;
      continue;
    }
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (response.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) bytes.append(s.begin(), s.end());
    }
    // HealthCheckResponse { ServingStatus status = 1; } SERVING = 1.
    if (bytes == std::string("\x08\x01", 2)) return absl::OkStatus();
    last = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat(options_.endpoints[i], " is not serving"));
  }
  return FromGrpc(last);
}

}  // namespace taala
