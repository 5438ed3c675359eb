/* The process owners' editor (templates/editor.html): one draft's files, each opened in its
 * editor (BPMN: bpmn-js's Modeler with the platform's properties panel; DMN: dmn-js; forms: the
 * field list beside the raw JSON), saved as a new revision of the draft on the server, and
 * validated while editing: after each change (debounced) the draft's files as they are in the
 * page go to the validator deploy uses, and its problems become markers on the elements and
 * lines in the list. Nothing here changes running work: only a deploy from the draft does. */
import BpmnModeler from "bpmn-js/lib/Modeler";
import DmnModeler from "dmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";

import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import "dmn-js/dist/assets/diagram-js.css";
import "dmn-js/dist/assets/dmn-js-shared.css";
import "dmn-js/dist/assets/dmn-js-drd.css";
import "dmn-js/dist/assets/dmn-js-decision-table.css";
import "dmn-js/dist/assets/dmn-js-decision-table-controls.css";
import "dmn-js/dist/assets/dmn-js-literal-expression.css";
import "dmn-js/dist/assets/dmn-font/css/dmn-embedded.css";
import "./editor.css";

import AftersalesPropertiesProvider from "./provider.jsx";
import spiffworkflow from "./spiffworkflow.json";
import { FormEditor, newFormSchema } from "./forms.js";
import { translateModule } from "./translate.js";

const VALIDATE_DELAY = 800;

/* A JSON call of the editor; a refusal that is not JSON (a page's 400 for a stale CSRF token,
 * a 413) or no answer at all comes back as {error: {message}} like the engine's. */
function post(url, body) {
  return window.Aftersales.request(url, {
    method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  }).then((r) => r.json().catch(() => ({ error: { message: `${r.status} ${r.statusText}` } }))
    .then((json) => ({ status: r.status, json })))
    .catch((err) => ({ status: 0, json: { error: { message: String(err) } } }));
}

function baseName(path) {
  return path.split("/").pop();
}

function kindOf(path) {
  if (path.endsWith(".dmn")) return "dmn";
  if (path.endsWith(".json")) return "json";
  return "bpmn";
}

class Editor {
  constructor(root) {
    this.root = root;
    this.config = JSON.parse(root.querySelector("#editor-config").textContent);
    this.files = this.config.files;
    this.revision = this.config.revision;
    this.current = null;
    this.active = null;          // {kind, save(): Promise<text>, markers(problems)}
    this.problems = [];
    this.dirty = false;
    this.touched = new Set();    // files edited here: only they are written back (a file merely
                                 // opened keeps its text, so deploying it versions nothing)
    this.validateTimer = null;
    this.validating = 0;
    this.el = (sel) => root.querySelector(sel);
    this.buildFileList();
    this.el("#editor-save").addEventListener("click", () => this.save());
    this.el("#editor-add-form").addEventListener("click", () => this.addForm());
    window.addEventListener("beforeunload", (e) => { if (this.dirty) e.preventDefault(); });
    const first = Object.keys(this.files).find((p) => kindOf(p) === "bpmn") || Object.keys(this.files)[0];
    this.open(this.config.open && this.files[this.config.open] !== undefined ? this.config.open : first);
  }

  buildFileList() {
    const list = this.el("#editor-files");
    list.innerHTML = "";
    // Diagrams and tables first, then forms, then message schemas.
    const rank = (p) => (p.startsWith("messages/") ? 2 : p.startsWith("forms/") ? 1 : 0);
    Object.keys(this.files).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).forEach((path) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "file-tab";
      button.dataset.path = path;
      button.textContent = path;
      button.setAttribute("aria-pressed", path === this.current ? "true" : "false");
      button.addEventListener("click", () => this.open(path));
      item.appendChild(button);
      list.appendChild(item);
    });
  }

  async open(path) {
    await this.writeBack();
    if (this.active && this.active.destroy) this.active.destroy();
    this.current = path;
    this.buildFileList();
    const canvas = this.el("#editor-canvas");
    const panel = this.el("#editor-properties");
    canvas.innerHTML = "";
    panel.innerHTML = "";
    const kind = kindOf(path);
    const changed = () => this.changed();
    if (kind === "bpmn") this.active = await this.openBpmn(canvas, panel, this.files[path], changed);
    else if (kind === "dmn") this.active = await this.openDmn(canvas, this.files[path], changed);
    else this.active = new FormEditor(canvas, panel, this.files[path], this.config, changed);
    this.root.dataset.open = path;
    this.showProblems();
    this.scheduleValidation(0);
  }

  async openBpmn(canvas, panel, xml, changed) {
    const modeler = new BpmnModeler({
      container: canvas,
      propertiesPanel: { parent: panel },
      additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule,
        { __init__: ["aftersalesPropertiesProvider"], aftersalesPropertiesProvider: ["type", AftersalesPropertiesProvider] },
        translateModule(this.config.locale)],
      moddleExtensions: { spiffworkflow },
      aftersales: this.panelSettings(),
    });
    await modeler.importXML(xml);
    requestAnimationFrame(() => modeler.get("canvas").zoom("fit-viewport", "auto"));
    modeler.on("commandStack.changed", changed);
    window.aftersalesModeler = modeler;     // the browser tests reach the diagram through it
    const elementRegistry = modeler.get("elementRegistry");
    const canvasApi = modeler.get("canvas");
    let marked = [];
    return {
      kind: "bpmn",
      save: () => modeler.saveXML({ format: true }).then((r) => r.xml),
      destroy: () => modeler.destroy(),
      markers: (problems) => {
        marked.forEach(([id, cls]) => elementRegistry.get(id) && canvasApi.removeMarker(id, cls));
        marked = [];
        problems.forEach((p) => {
          if (!p.element_id || !elementRegistry.get(p.element_id)) return;
          const cls = p.severity === "warning" ? "as-warning" : "as-problem";
          canvasApi.addMarker(p.element_id, cls);
          marked.push([p.element_id, cls]);
        });
      },
      select: (id) => {
        const element = elementRegistry.get(id);
        if (!element) return;
        modeler.get("selection").select(element);
        canvasApi.scrollToElement(element);
      },
    };
  }

  async openDmn(canvas, xml, changed) {
    const modeler = new DmnModeler({ container: canvas,
      common: { additionalModules: [translateModule(this.config.locale)] } });
    await modeler.importXML(xml);
    const table = modeler.getViews().find((v) => v.type === "decisionTable");
    if (table) await modeler.open(table);
    const listen = () => {
      const viewer = modeler.getActiveViewer();
      if (viewer) viewer.get("eventBus").on("elements.changed", changed);
    };
    listen();
    modeler.on("views.changed", listen);
    window.aftersalesDmn = modeler;
    return {
      kind: "dmn",
      save: () => modeler.saveXML({ format: true }).then((r) => r.xml),
      destroy: () => modeler.destroy(),
      markers: (problems) => {
        canvas.querySelectorAll(".as-problem").forEach((n) => n.classList.remove("as-problem"));
        problems.forEach((p) => {
          if (!p.element_id) return;
          canvas.querySelectorAll(`[data-element-id="${CSS.escape(p.element_id)}"]`)
            .forEach((n) => n.classList.add("as-problem"));
        });
      },
      select: () => {},
    };
  }

  panelSettings() {
    const config = this.config;
    return {
      vocabulary: config.vocabulary,
      labels: config.labels,
      text: config.text,
      check: (kind, text) => post(config.urls.check, { kind, text }).then((r) => r.json),
      draftForms: () => Object.keys(this.files).filter((p) => p.startsWith("forms/")).map(baseName),
      draftMessages: () => Object.keys(this.files).filter((p) => p.startsWith("messages/"))
        .map((p) => baseName(p).replace(/\.json$/, "")),
      createForm: (task) => this.createForm(task.id, task.name),
      formatTime: (iso) => new Date(iso).toLocaleString(config.locale, { timeZone: config.timezone }),
      formatSeconds: (s) => (s % 3600 === 0 ? `${s / 3600} h` : `${Math.round(s / 60)} min`),
    };
  }

  createForm(id, name) {
    const path = `forms/${id}.json`;
    if (this.files[path] === undefined) {
      this.files[path] = JSON.stringify(newFormSchema(`${id}.json`, name || id), null, 2) + "\n";
      this.buildFileList();
    }
    return `${id}.json`;
  }

  addForm() {
    const name = window.prompt(this.config.text.formName, "new_form");
    if (!name) return;
    const id = name.replace(/\.json$/, "").replace(/[^A-Za-z0-9_]/g, "_");
    this.createForm(id, id);
    this.open(`forms/${id}.json`);
    this.changed();
  }

  async writeBack() {
    if (this.active && this.touched.has(this.current)) this.files[this.current] = await this.active.save();
  }

  changed() {
    this.dirty = true;
    this.touched.add(this.current);
    this.el("#editor-state").textContent = this.config.text.unsaved;
    this.scheduleValidation(VALIDATE_DELAY);
  }

  scheduleValidation(delay) {
    clearTimeout(this.validateTimer);
    this.validateTimer = setTimeout(() => this.validate(), delay);
  }

  async currentFiles() {
    await this.writeBack();
    return this.files;
  }

  async validate() {
    const files = await this.currentFiles();
    const ticket = ++this.validating;
    this.root.dataset.validating = "1";
    const { status, json } = await post(this.config.urls.validate, { files });
    if (ticket !== this.validating) return;      // a later change is being validated
    delete this.root.dataset.validating;
    this.problems = status === 200 ? json.problems : [{ file: "", element_id: null,
      message: (json.error || {}).message || String(status), severity: "error" }];
    this.showProblems();
  }

  showProblems() {
    const mine = this.problems.filter((p) => !p.file || baseName(p.file) === baseName(this.current || ""));
    if (this.active) this.active.markers(mine);
    const list = this.el("#editor-problems");
    list.innerHTML = "";
    const errors = this.problems.filter((p) => p.severity !== "warning").length;
    this.el("#editor-summary").textContent = errors
      ? this.config.text.problems.replace("%n", errors) : this.config.text.noProblems;
    this.el("#editor-summary").className = errors ? "alert error" : "alert success";
    this.root.dataset.problems = String(errors);
    this.problems.forEach((p) => {
      const row = document.createElement("li");
      row.className = p.severity === "warning" ? "warning" : "error";
      row.dataset.element = p.element_id || "";
      const where = document.createElement("button");
      where.type = "button";
      where.className = "link";
      where.textContent = `${p.file || ""}${p.line ? ":" + p.line : ""} ${p.element_id || ""}`.trim();
      where.addEventListener("click", async () => {
        const path = Object.keys(this.files).find((f) => baseName(f) === baseName(p.file || ""));
        if (path && path !== this.current) await this.open(path);
        if (this.active && p.element_id) this.active.select(p.element_id);
      });
      const text = document.createElement("span");
      text.textContent = " " + p.message;
      row.append(where, text);
      list.appendChild(row);
    });
  }

  /* The new revision on top of the page's history (the page itself is not reloaded). */
  addHistory(saved, note) {
    const body = document.getElementById("editor-history");
    if (!body) return;
    const row = body.insertRow(0);
    const link = document.createElement("a");
    link.href = `?revision=${saved.revision}`;
    link.textContent = String(saved.revision);
    const cells = [link, note || "", saved.saved_by, new Date().toLocaleString(this.config.locale)];
    cells.forEach((value, i) => {
      const cell = row.insertCell();
      if (i === 0) cell.className = "num";
      cell.append(value);
    });
  }

  async save() {
    const files = await this.currentFiles();
    const note = this.el("#editor-note").value;
    const { status, json } = await post(this.config.urls.save, { files, note, base_revision: this.revision });
    const state = this.el("#editor-state");
    if (status === 200 || status === 201) {
      this.revision = json.revision;
      this.dirty = false;
      this.el("#editor-note").value = "";
      state.textContent = this.config.text.saved.replace("%n", json.revision);
      this.root.dataset.revision = String(json.revision);
      this.addHistory(json, note);
    } else {
      state.textContent = (json.error || {}).message || String(status);
    }
    state.setAttribute("role", "status");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("editor");
  if (root) window.aftersalesEditor = new Editor(root);
});
