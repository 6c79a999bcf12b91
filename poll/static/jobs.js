// Follow a running job on its page: move the progress bar from the job's JSON, and reload the page when the
// job ends, so its result (or why it stopped) shows. The page works without this script: it has a refresh link.
(function () {
  "use strict";
  var card = document.getElementById("job");
  if (!card || ["queued", "running"].indexOf(card.dataset.state) < 0) { return; }
  var bar = document.getElementById("job-progress");
  var percent = document.getElementById("job-percent");

  function poll() {
    fetch(card.dataset.status, { headers: { "Accept": "application/json", "X-Poll-Background": "1" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (job) {
        var value = Math.round(100 * job.progress);
        bar.value = value;
        bar.textContent = value + "%";
        percent.textContent = value + "%";
        if (job.state !== card.dataset.state && ["queued", "running"].indexOf(job.state) < 0) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
}());
