// A queued or running run's page: ask for its progress every 2 s and redraw the
// progress line; once the run has finished, reload the page for its final counts.
(function () {
  "use strict";
  function start() {
    var live = document.getElementById("run-live");
    var line = document.querySelector(".run-progress");
    if (!live || !line) { return; }
    var url = live.getAttribute("data-progress-url");
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (run) {
          if (!run) { window.setTimeout(poll, 5000); return; }
          line.innerHTML = run.progress_html;
          if (run.active) { window.setTimeout(poll, 2000); } else { window.location.reload(); }
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    }
    window.setTimeout(poll, 2000);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
