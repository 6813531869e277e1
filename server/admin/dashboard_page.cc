// The dashboard's markup and style (the script is in dashboard_script.cc).

#include "absl/strings/str_cat.h"
#include "server/admin/dashboard.h"

namespace taala::admin {

const char kDashboardHead[] = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taala dashboard</title>
<style>
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f6f7f9;
  --card: #fff; --ok: #12805c; --warn: #b54708; --bad: #b42318;
  --bar: #3e63dd; --bar2: #8e4ec6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI",
  Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 16px; align-items: baseline; padding: 12px 20px;
  background: #101828; color: #fff; }
header h1 { margin: 0; font-size: 20px; letter-spacing: .5px; }
header .meta { color: #d0d5dd; font-size: 12px; }
main { display: grid; grid-template-columns: repeat(auto-fit,
  minmax(640px, 1fr)); gap: 14px; padding: 14px 20px; }
section { background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; padding: 10px 14px; overflow-x: auto; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 15px; margin: 2px 0 8px; }
h3 { font-size: 13px; margin: 8px 0 4px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th { text-align: left; color: var(--muted); font-weight: 600;
  border-bottom: 1px solid var(--line); padding: 4px 6px; }
td { border-bottom: 1px solid var(--line); padding: 4px 6px;
  vertical-align: top; }
td.key, td.mono { font-family: ui-monospace, SFMono-Regular, Menlo,
  monospace; word-break: break-all; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.empty td { color: var(--muted); font-style: italic; }
.error { color: var(--bad); font-size: 12px; white-space: pre-wrap; }
.error:empty { display: none; }
.labels { color: var(--muted); font-size: 12px; }
#health-score { font-size: 40px; font-weight: 700; }
#health-score.ok, #health-status.ok { color: var(--ok); }
#health-score.degraded, #health-status.degraded { color: var(--warn); }
#health-score.critical, #health-status.critical { color: var(--bad); }
#health-status { font-weight: 600; margin-left: 8px; }
tr.reason.penalized td { color: var(--bad); }
dl#status { display: grid; grid-template-columns: max-content 1fr;
  gap: 2px 14px; margin: 0; font-size: 13px; }
dl#status dt { color: var(--muted); }
dl#status dd { margin: 0; font-variant-numeric: tabular-nums; }
.deadlock { border-left: 3px solid var(--bad); padding: 4px 8px;
  margin: 6px 0; font-size: 13px; }
.deadlock .cycle { font-family: ui-monospace, monospace; font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { flex: 1 1 420px; }
.chart svg { width: 100%; height: auto; }
.chart text { font-size: 10px; fill: var(--muted); }
.chart .count { fill: var(--fg); }
.chart rect.wait { fill: var(--bar); }
.chart rect.hold { fill: var(--bar2); }
</style>
)HTML";

const char kDashboardBody[] = R"HTML(</head>
<body>
<header>
  <h1>taala</h1>
  <span class="meta" id="version"></span>
  <span class="meta" id="updated">loading...</span>
  <span class="error" id="page-error"></span>
</header>
<main>
<section id="health-section">
  <h2>Health</h2>
  <div><span id="health-score">-</span><span id="health-status"></span></div>
  <table id="health-reasons">
    <thead><tr><th>Input</th><th>Value</th><th>Penalty</th><th>Detail</th>
    </tr></thead>
    <tbody id="health-reasons-body"></tbody>
  </table>
  <div class="error" id="health-error"></div>
</section>
<section id="status-section">
  <h2>Daemon</h2>
  <dl id="status"></dl>
  <div class="error" id="status-error"></div>
</section>
<section id="locks-section" class="wide">
  <h2>Held locks <span class="labels" id="locks-count"></span></h2>
  <table id="locks">
    <thead><tr><th>Key</th><th>Holder</th><th>Session</th><th>Mode</th>
      <th>Token</th><th>Held for</th><th>Labels</th><th>Waiters</th></tr>
    </thead>
    <tbody id="locks-body"></tbody>
  </table>
  <div class="error" id="locks-error"></div>
</section>
<section id="waiters-section">
  <h2>Waiters</h2>
  <table id="waiters">
    <thead><tr><th>Key</th><th>Waiter</th><th>Session</th><th>Mode</th>
      <th>Waited for</th><th>Gives up in</th></tr></thead>
    <tbody id="waiters-body"></tbody>
  </table>
  <div class="error" id="waiters-error"></div>
</section>
<section id="contention-section">
  <h2>Top contention</h2>
  <h3>By current waiters</h3>
  <table id="contention-waiters">
    <thead><tr><th>Key</th><th>Waiters</th><th>Holders</th>
      <th>Longest wait</th></tr></thead>
    <tbody id="contention-waiters-body"></tbody>
  </table>
  <h3 id="contention-window-title">By wait time</h3>
  <table id="contention-time">
    <thead><tr><th>Key</th><th>Time waited</th><th>Waits</th></tr></thead>
    <tbody id="contention-time-body"></tbody>
  </table>
  <div class="error" id="contention-error"></div>
</section>
<section id="leaks-section">
  <h2>Leak suspects</h2>
  <table id="leaks">
    <thead><tr><th>Key</th><th>Holder</th><th>Session</th><th>Held for</th>
      <th>Labels</th><th>Reason</th></tr></thead>
    <tbody id="leaks-body"></tbody>
  </table>
  <div class="error" id="leaks-error"></div>
</section>
<section id="deadlocks-section">
  <h2>Recent deadlocks <span class="labels" id="deadlocks-total"></span></h2>
  <div id="deadlocks"></div>
  <div class="error" id="deadlocks-error"></div>
</section>
<section id="sessions-section" class="wide">
  <h2>Sessions <span class="labels" id="sessions-count"></span></h2>
  <table id="sessions">
    <thead><tr><th>Session</th><th>Client</th><th>Labels</th><th>TTL</th>
      <th>Expires in</th><th>Held</th><th>Waiting</th></tr></thead>
    <tbody id="sessions-body"></tbody>
  </table>
  <div class="error" id="sessions-error"></div>
</section>
<section id="charts-section" class="wide">
  <h2>Wait and hold times <span class="labels">(since start)</span></h2>
  <div class="charts">
    <div class="chart"><h3>Wait (acquires that waited)</h3>
      <div id="wait-chart"></div></div>
    <div class="chart"><h3>Hold (released grants)</h3>
      <div id="hold-chart"></div></div>
  </div>
  <div class="error" id="charts-error"></div>
</section>
</main>
<script>
)HTML";

std::string DashboardHtml() {
  return absl::StrCat(kDashboardHead, kDashboardBody, kDashboardScript,
                      "</script>\n</body>\n</html>\n");
}

}  // namespace taala::admin
