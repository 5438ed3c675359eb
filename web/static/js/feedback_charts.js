/* What customers said, on the dashboard: feedback classes over time and by category (ECharts),
   and the word cloud of the range's words (echarts-wordcloud); a word opens the feedback that
   says it. The data is the page's #feedback-data (engine/feedback_dashboard.py). */
(function () {
  "use strict";
  var el = document.getElementById("feedback-data");
  var kpi = document.getElementById("kpi-data");
  if (!el || !window.echarts) return;
  var d = JSON.parse(el.textContent);
  var names = kpi ? JSON.parse(kpi.textContent).names : { categories: [], category_keys: [] };
  var fmt = new Intl.DateTimeFormat(d.locale === "en" ? "en" : "zh-CN", { month: "short", day: "numeric" });
  var classes = Object.keys(d.trend.series);

  function show(id, option) {
    var node = document.getElementById(id);
    if (!node) return;
    var c = window.echarts.init(node);
    option.animation = false;
    c.setOption(option);
    node.dataset.rendered = "1";
    window.addEventListener("resize", function () { c.resize(); });
    return c;
  }

  show("chart-feedback-trend", {
    tooltip: { trigger: "axis" }, legend: { top: 0, data: classes },
    grid: { left: 40, right: 16, top: 64, bottom: 30 },
    xAxis: { type: "category", data: d.trend.labels.map(function (iso) { return fmt.format(new Date(iso)); }) },
    yAxis: { type: "value", minInterval: 1 },
    series: classes.map(function (name) {
      return { name: name, type: "bar", stack: "classes", data: d.trend.series[name] };
    })
  });

  var categories = Object.keys(d.by_category);
  show("chart-feedback-category", {
    tooltip: { trigger: "axis" }, legend: { top: 0, data: classes },
    grid: { left: 64, right: 16, top: 64, bottom: 30 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: categories.map(function (key) {
      var i = names.category_keys.indexOf(key);
      return i < 0 ? key : names.categories[i];
    }) },
    series: classes.map(function (name) {
      return { name: name, type: "bar", stack: "classes",
               data: categories.map(function (key) { return d.by_category[key][name] || 0; }) };
    })
  });

  if (!d.terms.length) return;
  var cloud = show("chart-wordcloud", {
    tooltip: {},
    series: [{ type: "wordCloud", shape: "circle", gridSize: 8, sizeRange: [14, 56],
               rotationRange: [0, 0], width: "100%", height: "100%",
               data: d.terms.map(function (t) { return { name: t[0], value: t[1] }; }) }]
  });
  if (cloud) {
    cloud.on("click", function (params) {
      var url = new URL(d.drill, window.location.href);
      url.searchParams.set("q", params.name);
      window.location.href = url.toString();
    });
  }
})();
