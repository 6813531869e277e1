#include "server/rpc/lock_service.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/key.h"
#include "server/rpc/acquire_reactor.h"
#include "server/rpc/caller_views.h"
#include "server/rpc/durable_finish.h"
#include "server/rpc/event_stream.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/raw_request.h"
#include "server/rpc/translation.h"
#include "server/rpc/unary.h"

namespace taala {

using auth::Permission;

LockServiceImpl::LockServiceImpl(LockTable* table, Clock* clock)
    : table_(table), clock_(clock) {}

grpc::ServerUnaryReactor* LockServiceImpl::CreateSession(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::CreateSessionRequest, v1::CreateSessionResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Authenticate(*ctx, "CreateSession");
        if (!who.ok()) return who.status();
        // `lock` somewhere: a session is only good for taking locks.
        if (absl::Status s = gate_->AuthorizeAnywhere(
                *who, Permission::kLock, "CreateSession");
            !s.ok()) {
          return s;
        }
        CreateSessionCmd cmd =
            ToCreateSessionCmd(*req, table_->NewSessionId(), clock_->Now());
        cmd.owner = who->name;
        absl::StatusOr<SessionInfo> info = table_->CreateSession(cmd);
        // Ids are random (63 bits): a taken one is rare; draw again.
        for (int tries = 0; absl::IsAlreadyExists(info.status()) && tries < 8;
             ++tries) {
          cmd.session_id = table_->NewSessionId();
          info = table_->CreateSession(cmd);
        }
        if (!info.ok()) {
          if (absl::IsResourceExhausted(info.status())) {
            gate_->NoteRefused(*who, "CreateSession", "", info.status());
          }
          return info.status();
        }
        if (session_ttl_hook_) {
          if (absl::Status s = session_ttl_hook_(info->ttl); !s.ok()) return s;
        }
        ToProto(*info, resp);
        return absl::OkStatus();
      });
}

KeepAliveReactorBase* LockServiceImpl::KeepAlive(
    grpc::CallbackServerContext* ctx) {
  return NewKeepAliveReactor(ctx, table_, clock_, gate_);
}

grpc::ServerUnaryReactor* LockServiceImpl::KeepAliveOnce(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::KeepAliveRequest, v1::KeepAliveResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Authenticate(*ctx, "KeepAliveOnce");
        if (!who.ok()) return who.status();
        if (absl::Status s =
                CheckOwner(*who, req->session_id(), "KeepAliveOnce", "");
            !s.ok()) {
          return s;
        }
        absl::StatusOr<absl::Duration> ttl =
            table_->KeepAlive(KeepAliveCmd{req->session_id(), clock_->Now()});
        if (!ttl.ok()) return ttl.status();
        if (req->has_acked_event_sequence()) {
          table_->AckEvents(req->session_id(), req->acked_event_sequence());
        }
        ToKeepAliveAck(req->session_id(), *ttl, resp);
        resp->set_request_sequence(req->request_sequence());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::CloseSession(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::CloseSessionRequest, v1::CloseSessionResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Authenticate(*ctx, "CloseSession");
        if (!who.ok()) return who.status();
        if (absl::Status s =
                CheckOwner(*who, req->session_id(), "CloseSession", "");
            !s.ok()) {
          return s;
        }
        absl::StatusOr<size_t> released = table_->CloseSession(
            CloseSessionCmd{req->session_id(), clock_->Now()});
        if (!released.ok()) return released.status();
        resp->set_released_grants(static_cast<uint32_t>(*released));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::Acquire(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  v1::AcquireRequest req;
  if (absl::Status s = ParseRequest(*raw, &req); !s.ok()) {
    return FinishNow(table_->log(), ctx, s);
  }
  absl::StatusOr<AcquireCmd> cmd =
      ToAcquireCmd(&req, clock_->Now(), Policies());
  if (!cmd.ok()) return FinishNow(table_->log(), ctx, cmd.status());
  absl::StatusOr<auth::Identity> who =
      gate_->Admit(*ctx, "Acquire", Permission::kLock, cmd->key);
  absl::Status allowed = who.status();
  if (allowed.ok()) {
    allowed = CheckOwner(*who, cmd->session_id, "Acquire", cmd->key);
  }
  if (!allowed.ok()) return FinishNow(table_->log(), ctx, allowed);
  // A deadlock's whole cycle only for those who may read every key.
  const bool whole_cycle = gate_->AllowedEverywhere(*who, Permission::kRead);
  // Fast path: answered at once (granted, held, try-lock, error) without a
  // reactor of our own.
  std::optional<absl::StatusOr<AcquireResult>> outcome =
      table_->Acquire(*cmd, nullptr);
  if (outcome.has_value()) {
    v1::AcquireResponse resp;
    if (outcome->ok()) ToProto(**outcome, cmd->now, &resp);
    if (absl::IsResourceExhausted(outcome->status())) {
      gate_->NoteRefused(*who, "Acquire", cmd->key, outcome->status());
    }
    return FinishNow(table_->log(), ctx,
                     whole_cycle ? outcome->status()
                                 : WithoutForeignCycle(outcome->status()),
                     resp, raw_resp);
  }
  return StartAcquireReactor(table_, clock_, gate_, *std::move(who),
                             *std::move(cmd), raw_resp, whole_cycle);
}

grpc::ServerUnaryReactor* LockServiceImpl::Release(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::ReleaseRequest, v1::ReleaseResponse>(
      table_->log(), ctx, raw, raw_resp,
      [this, ctx](auto* req, auto* /*resp*/) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "Release", Permission::kLock, req->key());
        if (!who.ok()) return who.status();
        if (absl::Status s =
                CheckOwner(*who, req->session_id(), "Release", req->key());
            !s.ok()) {
          return s;
        }
        return table_->Release(ToReleaseCmd(req, clock_->Now()));
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::CheckFence(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::CheckFenceRequest, v1::CheckFenceResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "CheckFence", Permission::kRead, req->key());
        if (!who.ok()) return who.status();
        return Answer(table_->CheckFence(req->key(), req->fencing_token()),
                      clock_->Now(), resp->mutable_grant());
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::DescribeLock(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::DescribeLockRequest, v1::DescribeLockResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "DescribeLock", Permission::kRead, req->key());
        if (!who.ok()) return who.status();
        absl::StatusOr<LockDescription> d =
            table_->Describe(req->key(), MaxWaiters(req->max_waiters()));
        // Tree blockers may sit outside the caller's `read` (an ancestor).
        if (d.ok()) DropUnreadableBlockers(*gate_, *who, &*d);
        return Answer(std::move(d), clock_->Now(), resp);
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::ListLocks(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::ListLocksRequest, v1::ListLocksResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "ListLocks", Permission::kRead, req->prefix());
        if (!who.ok()) return who.status();
        // One instant for the filter and the reply's held_for_ms.
        const absl::Time now = clock_->Now();
        return Answer(table_->ListLocks(req->prefix(), req->page_token(),
                                        PageSize(req->page_size()),
                                        ToListLocksFilter(*req, now)),
                      now, resp);
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::ListSessions(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::ListSessionsRequest, v1::ListSessionsResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        // Anyone authenticated sees its own sessions (FilterSessions).
        absl::StatusOr<auth::Identity> who =
            gate_->Authenticate(*ctx, "ListSessions");
        if (!who.ok()) return who.status();
        absl::StatusOr<uint64_t> after =
            FromOwnSessionsToken(req->page_token());
        if (!after.ok()) return after.status();
        if (gate_->AllowedEverywhere(*who, Permission::kRead)) {
          ToProto(table_->ListSessions(*after, PageSize(req->page_size())),
                  clock_->Now(), resp);
          return absl::OkStatus();
        }
        // Its own sessions only, and a page token that is one of them.
        OwnSessionsPage own = ListOwnSessions(*table_, *who, *after,
                                              PageSize(req->page_size()));
        ToProto(own.page, clock_->Now(), resp);
        if (own.resume.has_value()) resp->set_next_page_token(*own.resume);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::AcquireAll(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  v1::AcquireAllRequest req;
  if (absl::Status s = ParseRequest(*raw, &req); !s.ok()) {
    return FinishNow(table_->log(), ctx, s);
  }
  absl::StatusOr<MultiAcquireCmd> cmd =
      ToMultiAcquireCmd(&req, table_->options().key_limits, clock_->Now(),
                        Policies());
  if (!cmd.ok()) return FinishNow(table_->log(), ctx, cmd.status());
  absl::StatusOr<auth::Identity> who = gate_->Authenticate(*ctx, "AcquireAll");
  absl::Status allowed = who.status();
  for (const MultiAcquireCmd::Key& k : cmd->keys) {
    if (!allowed.ok()) break;
    allowed = gate_->Authorize(*who, Permission::kLock, k.key, "AcquireAll");
  }
  if (allowed.ok()) {
    allowed = CheckOwner(*who, cmd->session_id, "AcquireAll", "");
  }
  if (!allowed.ok()) return FinishNow(table_->log(), ctx, allowed);
  const bool whole_cycle = gate_->AllowedEverywhere(*who, Permission::kRead);
  return StartAcquireAllReactor(table_, clock_, gate_, *std::move(who),
                                *std::move(cmd), raw_resp, whole_cycle);
}

grpc::ServerUnaryReactor* LockServiceImpl::GetWaitForGraph(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::GetWaitForGraphRequest, v1::GetWaitForGraphResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto* req, auto* resp) {
        absl::StatusOr<auth::Identity> who =
            gate_->Admit(*ctx, "GetWaitForGraph", Permission::kRead, "");
        if (!who.ok()) return who.status();
        absl::StatusOr<uint32_t> max_edges = MaxEdges(req->max_edges());
        if (!max_edges.ok()) return max_edges.status();
        bool truncated = false;
        // Within the reply's size budget (translation.h): 10000 edges of
        // 1 KB keys would pass gRPC's default 4 MiB receive limit.
        size_t left = kReplyBudgetBytes;
        for (const WaitForGraph::Edge& e :
             table_->WaitForEdges(*max_edges, &truncated)) {
          v1::WaitForEdge* edge = resp->add_edges();
          ToProto(e, edge);
          const size_t bytes = ElementBytes(*edge);
          if (bytes > left) {
            resp->mutable_edges()->RemoveLast();
            truncated = true;
            break;
          }
          left -= bytes;
        }
        resp->set_truncated(truncated);
        resp->set_deadlocks_refused(table_->deadlocks_refused());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LockServiceImpl::GetServerStatus(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* raw_resp) {
  return ServeRaw<v1::GetServerStatusRequest, v1::GetServerStatusResponse>(
      table_->log(), ctx, raw, raw_resp, [this, ctx](auto*, auto* resp) {
        // Any authenticated caller: liveness and durability, no lock state.
        absl::StatusOr<auth::Identity> who =
            gate_->Authenticate(*ctx, "GetServerStatus");
        if (!who.ok()) return who.status();
        v1::ServerStatus* status = resp->mutable_status();
        if (status_source_) status_source_(status);
        const absl::Time now = clock_->Now();
        const absl::Time refused_until = table_->grants_refused_until();
        status->set_grants_refused_for_ms(
            refused_until > now
                ? absl::ToInt64Milliseconds(refused_until - now)
                : 0);
        status->set_last_lsn(table_->log().LastLsn());
        status->set_sessions(table_->SessionCount());
        status->set_keys(table_->KeyCount());
        return absl::OkStatus();
      });
}

absl::Status LockServiceImpl::CheckOwner(const auth::Identity& who,
                                         uint64_t id, absl::string_view call,
                                         absl::string_view key) {
  if (who.internal) return absl::OkStatus();
  absl::Status s = table_->CheckSessionOwner(id, who.name, who.anonymous);
  // Worded exactly as the table words an unknown session for this call, so
  // that a foreign session and an unknown one cannot be told apart.
  if (!s.ok() && !key.empty()) {
    if (call == "Acquire") {
      s = absl::NotFoundError(absl::StrCat(s.message(), "; acquiring key ",
                                           table_internal::Quote(key)));
    } else if (call == "Release") {
      s = absl::NotFoundError(absl::StrCat(s.message(), "; releasing key ",
                                           table_internal::Quote(key)));
    }
  }
  // An unknown session is the caller's own mistake; only another
  // identity's is a refusal worth auditing, but the two look alike here
  // (that is the point), so each is noted.
  if (!s.ok()) gate_->NoteRefused(who, call, key, s);
  return s;
}

}  // namespace taala
