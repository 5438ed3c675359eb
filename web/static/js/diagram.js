/* Process diagrams with the bpmn-js NavigatedViewer (served from web/node_modules).
 *
 * A `.diagram-box` holds a JSON payload {files: [{name}], files_url, initial, marks, heat,
 * labels} written by web/pages/diagram.py; the XML comes from files_url. Marks are CSS classes per element id (ready, waiting,
 * completed, active, added, removed, changed); heat is a 0..1 value per element, drawn as a
 * colour scale with a label overlay. A box inside a hidden tab is drawn when it is shown.
 */
(function () {
  "use strict";

  var READABLE = 0.8;

  function Diagram(box) {
    this.box = box;
    this.payload = JSON.parse(box.querySelector(".diagram-data").textContent);
    this.canvasEl = box.querySelector(".diagram-canvas");
    this.viewer = new window.BpmnJS({ container: this.canvasEl });
    this.applied = [];
    this.current = null;
    box.diagram = this;
    this.buildToolbar();
  }

  Diagram.prototype.buildToolbar = function () {
    var self = this;
    var files = this.box.querySelector(".diagram-files");
    if (files && this.payload.files.length > 1) {
      this.payload.files.forEach(function (f) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "small file-tab";
        b.setAttribute("role", "tab");
        b.textContent = f.name.replace(/\.bpmn$/, "");
        b.dataset.file = f.name;
        b.addEventListener("click", function () { self.show(f.name); });
        files.appendChild(b);
      });
    } else if (files) {
      files.removeAttribute("role");      // one file: no tabs, so no tab list (axe: an empty tablist)
    }
    this.box.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () { self.zoom(b.dataset.zoom); });
    });
  };

  Diagram.prototype.zoom = function (how) {
    var canvas = this.viewer.get("canvas");
    if (how === "fit") canvas.zoom("fit-viewport", "auto");
    else if (how === "focus") this.focus();
    else canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8));
  };

  /* The XML of a definition's files, fetched once per page (and cached by the browser). */
  var sources = {};
  function fetchFiles(url) {
    if (!sources[url]) {
      sources[url] = fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error(r.status + " " + r.statusText);
        return r.json();
      });
    }
    return sources[url];
  }

  Diagram.prototype.show = function (name) {
    var self = this;
    var file = this.payload.files.find(function (f) { return f.name === name; }) || this.payload.files[0];
    if (!file) return Promise.resolve();
    if (this.current === file.name) { this.applyMarks(); return Promise.resolve(); }
    this.current = file.name;
    this.box.querySelectorAll(".file-tab").forEach(function (b) {
      b.classList.toggle("active", b.dataset.file === file.name);
      b.setAttribute("aria-selected", b.dataset.file === file.name ? "true" : "false");
    });
    return fetchFiles(this.payload.files_url).then(function (xmls) {
      if (self.current !== file.name) return null;      // another file was asked for meanwhile
      return self.viewer.importXML(xmls[file.name]);
    }).then(function (imported) {
      if (imported === null) return;
      self.applied = [];
      self.applyMarks();
      self.focus();
      self.box.classList.add("rendered");
      self.box.dataset.file = file.name;
    }).catch(function (err) {
      self.canvasEl.textContent = "Diagram error: " + err.message;
    });
  };

  /* Fit the diagram; when that makes it too small to read, zoom in on where the work is. */
  Diagram.prototype.focus = function () {
    var canvas = this.viewer.get("canvas");
    var registry = this.viewer.get("elementRegistry");
    canvas.zoom("fit-viewport", "auto");
    var marks = this.payload.marks || {};
    var ids = Object.keys(marks);
    var target = ["ready", "waiting", "active", "changed", "added", "removed"].reduce(function (found, kind) {
      return found || ids.filter(function (id) { return marks[id] === kind && registry.get(id); })[0];
    }, null);
    if (target && canvas.zoom() < READABLE) {
      canvas.zoom(READABLE);
      canvas.scrollToElement(registry.get(target), { top: 120, bottom: 120, left: 200, right: 200 });
    }
  };

  Diagram.prototype.applyMarks = function () {
    var canvas = this.viewer.get("canvas");
    var registry = this.viewer.get("elementRegistry");
    var overlays = this.viewer.get("overlays");
    this.applied.forEach(function (a) { if (registry.get(a[0])) canvas.removeMarker(a[0], a[1]); });
    this.applied = [];
    overlays.clear();
    var marks = this.payload.marks || {};
    var heat = this.payload.heat || {};
    var labels = this.payload.labels || {};
    var self = this;
    Object.keys(marks).forEach(function (id) {
      if (!registry.get(id)) return;
      var cls = "mark-" + marks[id];
      canvas.addMarker(id, cls);
      self.applied.push([id, cls]);
    });
    Object.keys(heat).forEach(function (id) {
      if (!registry.get(id)) return;
      var level = "heat-" + Math.min(5, Math.max(1, Math.ceil(heat[id] * 5)));
      canvas.addMarker(id, level);
      self.applied.push([id, level]);
    });
    Object.keys(labels).forEach(function (id) {
      if (!registry.get(id)) return;
      var div = document.createElement("div");
      div.className = "diagram-label";
      div.textContent = labels[id];
      overlays.add(id, { position: { bottom: -4, right: 8 }, html: div });
    });
  };

  /* Replace the marks (a replay step) and, if asked, switch to the file where the tokens are. */
  Diagram.prototype.setMarks = function (marks, file) {
    this.payload.marks = marks;
    if (file && file !== this.current) return this.show(file);
    this.applyMarks();
    return Promise.resolve();
  };

  function visible(el) { return el.offsetParent !== null; }

  function mountAll(root) {
    (root || document).querySelectorAll(".diagram-box").forEach(function (box) {
      if (box.diagram || !visible(box)) return;
      var d = new Diagram(box);
      d.show(d.payload.initial);
    });
  }

  window.AftersalesDiagrams = { mountAll: mountAll };
  document.addEventListener("DOMContentLoaded", function () { mountAll(document); });
})();
