/* KPI charts with Apache ECharts (served from web/node_modules). */
(function () {
  "use strict";
  var el = document.getElementById("kpi-data");
  if (!el || !window.echarts) return;
  var d = JSON.parse(el.textContent);
  var L = d.labels;
  var fmt = new Intl.DateTimeFormat(d.locale === "en" ? "en" : "zh-CN", { month: "short", day: "numeric" });
  var days = d.trend.labels.map(function (iso) { return fmt.format(new Date(iso)); });
  function pct(v) { return v === null || v === undefined ? null : Math.round(v * 1000) / 10; }
  var charts = [];
  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node) return;
    var c = window.echarts.init(node);
    option.animation = false;      // a work tool: figures at once, and stable screenshots
    option.tooltip = option.tooltip || { trigger: "axis" };
    option.grid = option.grid || { left: 48, right: 48, top: 64, bottom: 30 };
    if (option.legend) { option.legend.top = 0; }
    (option.series || []).forEach(function (s) {
      if (s.type === "line") { s.showSymbol = true; s.symbolSize = 8; s.z = 5; }
    });
    c.setOption(option);
    node.dataset.rendered = "1";
    charts.push(c);
  }

  chart("chart-trend", {
    legend: { data: [L.requests, L.first_response, L.resolution] },
    xAxis: { type: "category", data: days },
    yAxis: [{ type: "value", name: L.hours }, { type: "value", name: L.requests, minInterval: 1 }],
    series: [
      { name: L.requests, type: "bar", yAxisIndex: 1, data: d.trend.requests, itemStyle: { color: "#c6d7ef" } },
      { name: L.first_response, type: "line", data: d.trend.first_response, connectNulls: true },
      { name: L.resolution, type: "line", data: d.trend.resolution, connectNulls: true }
    ]
  });

  chart("chart-quality", {
    legend: { data: [L.breach_rate, L.complaint_rate, L.csat] },
    xAxis: { type: "category", data: days },
    yAxis: [{ type: "value", name: "%", max: 100 }, { type: "value", name: L.csat, min: 0, max: 5 }],
    series: [
      { name: L.breach_rate, type: "line", data: d.trend.breach_rate.map(pct), connectNulls: true, itemStyle: { color: "#cf222e" } },
      { name: L.complaint_rate, type: "line", data: d.trend.complaint_rate.map(pct), connectNulls: true, itemStyle: { color: "#bf8700" } },
      { name: L.csat, type: "line", yAxisIndex: 1, data: d.trend.csat, connectNulls: true, itemStyle: { color: "#1a7f37" } }
    ]
  });

  var byCat = d.figures.by_category;
  var cats = d.names.category_keys.filter(function (k) { return byCat[k]; });
  var catNames = cats.map(function (k) { return d.names.categories[d.names.category_keys.indexOf(k)]; });
  chart("chart-category", {
    legend: { data: [L.requests, L.complaint_rate, L.breach_rate] },
    xAxis: { type: "category", data: catNames },
    yAxis: [{ type: "value", name: L.requests, minInterval: 1 }, { type: "value", name: "%", max: 100 }],
    series: [
      { name: L.requests, type: "bar", data: cats.map(function (k) { return byCat[k].requests; }) },
      { name: L.complaint_rate, type: "bar", yAxisIndex: 1, data: cats.map(function (k) { return pct(byCat[k].complaint_rate); }) },
      { name: L.breach_rate, type: "bar", yAxisIndex: 1, data: cats.map(function (k) { return pct(byCat[k].tasks.completed_breach_rate); }) }
    ]
  });

  var byDept = d.figures.by_department;
  var depts = d.names.department_keys.filter(function (k) { return byDept[k]; });
  var deptNames = depts.map(function (k) { return d.names.departments[d.names.department_keys.indexOf(k)]; });
  chart("chart-department", {
    legend: { data: [L.breach_rate, L.open_breach_rate] },
    grid: { left: 90, right: 30, top: 40, bottom: 30 },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    yAxis: { type: "category", data: deptNames },
    xAxis: { type: "value", name: "%", max: 100 },
    series: [
      { name: L.breach_rate, type: "bar", data: depts.map(function (k) { return pct(byDept[k].tasks.completed_breach_rate); }) },
      { name: L.open_breach_rate, type: "bar", data: depts.map(function (k) { return pct(byDept[k].tasks.open_breach_rate); }) }
    ]
  });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
