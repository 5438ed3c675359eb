/* The live queue on every staff page: server-sent events from /events/queue keep the count in
 * the navigation and the tab title, tell the inbox to refresh its list (event "queue:changed"),
 * and show a browser notification for a new P1 task or a breach once the person allowed them
 * (the bell in the top bar asks). EventSource reconnects by itself when a stream ends. */
(function () {
  "use strict";

  var badge = document.getElementById("nav-inbox-count");
  if (!badge || !window.EventSource) return;
  var baseTitle = document.title;
  var bell = document.getElementById("notify-toggle");

  function show(total) {
    badge.textContent = total;
    badge.hidden = !total;
    document.title = (total ? "(" + total + ") " : "") + baseTitle;
  }

  function notify(alerts) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    alerts.forEach(function (alert) {
      var note = new Notification(alert.text, { tag: alert.kind + ":" + alert.task_id });
      note.onclick = function () { window.focus(); window.location.href = "/inbox?task=" + encodeURIComponent(alert.task_id); };
    });
  }

  if (bell && "Notification" in window) {
    bell.hidden = Notification.permission === "granted";
    bell.addEventListener("click", function () {
      Notification.requestPermission().then(function (answer) { bell.hidden = answer === "granted"; });
    });
  }

  var source = new EventSource(badge.dataset.eventsUrl);
  source.addEventListener("queue", function (event) {
    var data = JSON.parse(event.data);
    show(data.total);
    if (data.changed) document.dispatchEvent(new CustomEvent("queue:changed", { detail: data }));
    if (data.alerts && data.alerts.length) notify(data.alerts);
  });
})();
