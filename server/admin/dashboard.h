#ifndef TAALA_SERVER_ADMIN_DASHBOARD_H_
#define TAALA_SERVER_ADMIN_DASHBOARD_H_

// The dashboard at /: one self-contained HTML page (HTML, CSS and script
// compiled into the binary; no CDN, no external asset) that reads the JSON
// endpoints and refreshes itself every 2 s. Its tables and rows carry
// stable ids and classes (docs/observability.md, "Dashboard"), e.g.
// tr.lock-row > td.key, td.holder; tr.waiter-row > td.waiter;
// tr.suspect > td.key, td.holder. Data is put in with textContent, never as
// markup, so a key cannot inject HTML.

#include <string>

namespace taala::admin {

std::string DashboardHtml();

// The parts (dashboard_page.cc, dashboard_script.cc).
extern const char kDashboardHead[];    // <!doctype> to the end of <style>.
extern const char kDashboardBody[];    // </head><body> up to <script>.
extern const char kDashboardScript[];  // The script's text.

}  // namespace taala::admin

#endif  // TAALA_SERVER_ADMIN_DASHBOARD_H_
