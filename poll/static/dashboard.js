// Refresh the dashboard's figures every few seconds while the poll is open.
// The page works without this script; it only saves a reload.
(function () {
  "use strict";
  var panel = document.getElementById("panel");
  if (!panel || !panel.dataset.refresh) { return; }
  var url = panel.dataset.refresh;
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) { panel.innerHTML = html; } })
      .catch(function () { /* keep the last figures; try again on the next tick */ })
      .then(function () { window.setTimeout(refresh, 3000); });
  }
  window.setTimeout(refresh, 3000);
})();
