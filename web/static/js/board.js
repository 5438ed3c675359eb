/* Overdue board: "tick all" per table and a count of the ticked tasks. */
(function () {
  "use strict";
  function count() {
    var info = document.getElementById("ticked");
    if (!info) return;
    var n = document.querySelectorAll('#board input[name="task_id"]:checked').length;
    info.textContent = n ? info.dataset.template.replace("{n}", n) : "";
  }
  document.addEventListener("change", function (event) {
    if (event.target.classList.contains("tick-all")) {
      event.target.closest("table").querySelectorAll('input[name="task_id"]').forEach(function (box) {
        box.checked = event.target.checked;
      });
    }
    count();
  });
  document.addEventListener("fragment:swapped", count);
})();
