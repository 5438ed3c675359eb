// The customer app's one script: live updates of a request's page (server-sent events), and a
// count of the photos chosen. The pages work without it; it only saves reloads.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (live && window.EventSource) {
    var status = document.getElementById("live-status");
    var source = new EventSource(live.dataset.events);
    source.addEventListener("changed", function () {
      fetch(live.dataset.live, {headers: {"X-Requested-With": "fetch"}, credentials: "same-origin"})
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          live.innerHTML = html;
          if (status) { status.textContent = status.dataset.updated || ""; }
        });
    });
  }
  var photos = document.getElementById("photos");
  if (photos) {
    photos.addEventListener("change", function () {
      var count = document.getElementById("photo-count");
      var max = parseInt(photos.dataset.max, 10);
      count.textContent = photos.files.length > max ? count.dataset.tooMany : photos.files.length + " ✓";
    });
  }
})();
