// Refresh the dashboard's figures every few seconds while the poll is open.
// The page works without this script; it only saves a reload. The reader's
// choices (the map's answer) are kept, and the line under the heading says
// when the figures were last updated, or that they are stale when a refresh
// fails.
(function () {
  "use strict";
  var panel = document.getElementById("panel");
  if (!panel || !panel.dataset.refresh) { return; }
  var status = document.getElementById("refreshed");
  var lastUpdate = new Date();
  var language = document.documentElement.lang || undefined;

  function clock(when) {
    return when.toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function say(template, when) {
    if (!status) { return; }
    status.textContent = template.replace("%(time)s", clock(when));
  }

  function currentUrl() {
    // The refresh asks for what the reader is looking at now, not what the page first showed.
    var url = new URL(panel.dataset.refresh, window.location.href);
    var option = panel.querySelector("#map-option");
    if (option) { url.searchParams.set("option", option.value); }
    return url.toString();
  }

  function swap(html) {
    var focused = document.activeElement && panel.contains(document.activeElement) ? document.activeElement.id : null;
    panel.innerHTML = html;
    if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
  }

  function refresh() {
    var choosing = panel.contains(document.activeElement) && document.activeElement.tagName === "SELECT";
    if (choosing || document.hidden) {
      window.setTimeout(refresh, 3000);  // the reader is choosing, or not looking: ask again later
      return;
    }
    fetch(currentUrl(), {
      credentials: "same-origin", redirect: "manual",
      headers: { "Accept": "text/html", "X-Poll-Background": "1" }  // not the operator at work: no idle reset
    })
      .then(function (response) {
        // A redirect is the login page: the session ended, and these figures are stale.
        if (!response.ok || response.type === "opaqueredirect") { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        swap(html);
        lastUpdate = new Date();
        if (status) { status.classList.remove("stale"); say(status.dataset.updated, lastUpdate); }
      })
      .catch(function () {
        // Keep the last figures, say since when they are, and try again on the next tick.
        if (status) { status.classList.add("stale"); say(status.dataset.stale, lastUpdate); }
      })
      .then(function () { window.setTimeout(refresh, 3000); });
  }
  window.setTimeout(refresh, 3000);
})();
