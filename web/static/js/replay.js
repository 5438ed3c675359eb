/* Audit replay: a slider over the recorded events; each step moves the tokens on the diagram
 * (marks from engine.history.replay steps) and shows the event's input and the data after it. */
(function () {
  "use strict";
  var stepsEl = document.getElementById("replay-steps");
  if (!stepsEl) return;
  var steps = JSON.parse(stepsEl.textContent);
  var inputs = JSON.parse(document.getElementById("replay-inputs").textContent);
  var labels = JSON.parse(document.getElementById("replay-labels").textContent);
  var slider = document.getElementById("step-slider");
  var label = document.getElementById("step-label");
  var input = document.getElementById("step-input");
  var data = document.getElementById("step-data");
  var items = Array.from(document.querySelectorAll("#timeline li"));
  var box = document.querySelector('[data-diagram="replay"]');

  function show(index) {
    var step = steps[index];
    var before = index > 0 ? steps[index - 1].data : {};
    slider.value = index;
    label.textContent = "#" + step.seq + " / " + steps.length;
    input.textContent = JSON.stringify(inputs[index] || {}, null, 2);
    data.innerHTML = "";
    Object.keys(step.data).sort().forEach(function (key) {
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      dt.textContent = key;
      var text = JSON.stringify(step.data[key]);
      dd.textContent = text;
      if (JSON.stringify(before[key]) !== text) {
        dt.className = "changed"; dd.className = "changed"; dd.title = labels.changed;
      }
      data.appendChild(dt); data.appendChild(dd);
    });
    items.forEach(function (li, i) {
      li.classList.toggle("current", i === index);
      li.classList.toggle("future", i > index);
    });
    if (items[index]) items[index].scrollIntoView({ block: "nearest" });
    if (box && box.diagram) box.diagram.setMarks(step.marks, step.file);
    box && (box.dataset.step = String(step.seq));
  }

  slider.addEventListener("input", function () { show(Number(slider.value)); });
  document.getElementById("step-prev").addEventListener("click", function () { show(Math.max(0, Number(slider.value) - 1)); });
  document.getElementById("step-next").addEventListener("click", function () { show(Math.min(steps.length - 1, Number(slider.value) + 1)); });
  items.forEach(function (li) { li.addEventListener("click", function () { show(Number(li.dataset.index)); }); });
  document.addEventListener("keydown", function (event) {
    if (event.target.tagName === "INPUT" && event.target !== slider) return;
    if (event.key === "ArrowLeft" && event.target !== slider) show(Math.max(0, Number(slider.value) - 1));
    if (event.key === "ArrowRight" && event.target !== slider) show(Math.min(steps.length - 1, Number(slider.value) + 1));
  });
  window.addEventListener("load", function () { show(steps.length - 1); });
})();
