/* A task form (JSON Schema) edited as a list of fields beside its raw JSON, with the form as
 * staff will see it: the preview is drawn by the server from the schema (POST
 * /processes/editor/form-preview, the same reading of the schema as the task page). The field
 * list writes what the platform reads: title (English) and description (Chinese) as the two
 * labels, type, required, enum options with their labels in both languages, minimum/maximum,
 * maxLength. Keys it does not show are
 * kept as they are. */

const TYPES = ["string", "text", "number", "money", "integer", "boolean", "select"];

export function newFormSchema(id, title) {
  return { $schema: "https://json-schema.org/draft/2020-12/schema", $id: id, title,
    description: title, type: "object", properties: {}, required: [], additionalProperties: false };
}

function typeOf(prop) {
  if (prop.enum) return "select";
  if (prop.type === "number" && prop.format === "money") return "money";
  if (prop.type === "string" && (prop.maxLength || 0) > 200) return "text";
  return TYPES.includes(prop.type) ? prop.type : "string";
}

function applyType(prop, type) {
  const options = prop.enum;
  delete prop.enum; delete prop.format;
  if (type !== "select") delete prop[LABELS];
  if (type === "select") { prop.type = "string"; prop.enum = options || []; }
  else if (type === "money") { prop.type = "number"; prop.format = "money"; }
  else if (type === "text") { prop.type = "string"; prop.maxLength = Math.max(prop.maxLength || 0, 2000); }
  else prop.type = type;
}

/* Options as one line: "value=English|中文, value2" (labels optional). The labels go to the
 * schema's "x-option-labels" {value: {"en", "zh-CN"}}, which the task page reads. */
const LABELS = "x-option-labels";

function optionsText(prop) {
  const labels = prop[LABELS] || {};
  return (prop.enum || []).map((value) => {
    const words = labels[value];
    if (!words || (!words.en && !words["zh-CN"])) return value;
    return `${value}=${words.en || ""}|${words["zh-CN"] || ""}`;
  }).join(", ");
}

function readOptions(prop, text) {
  const labels = {};
  prop.enum = text.split(",").map((part) => part.trim()).filter(Boolean).map((part) => {
    const [value, said = ""] = part.split("=", 2).map((s) => s.trim());
    const [en = "", zh = ""] = said.split("|", 2).map((s) => s.trim());
    if (en || zh) labels[value] = { ...(en && { en }), ...(zh && { "zh-CN": zh }) };
    return value;
  }).filter(Boolean);
  if (Object.keys(labels).length) prop[LABELS] = labels; else delete prop[LABELS];
}

function input(attrs) {
  const node = document.createElement(attrs.tag || "input");
  Object.entries(attrs).forEach(([k, v]) => { if (k !== "tag") node[k] = v; });
  return node;
}

export class FormEditor {
  constructor(canvas, panel, text, config, changed) {
    this.config = config;
    this.changed = changed;
    this.text = text;
    canvas.innerHTML = `<div class="form-editor"><h3>${config.text.fields}</h3><table class="grid fields">
      <thead><tr><th>${config.text.fieldKey}</th><th>${config.text.labelEn}</th><th>${config.text.labelZh}</th>
      <th>${config.text.fieldType}</th><th>${config.text.required}</th><th>${config.text.options}</th>
      <th>${config.text.limits}</th><th></th></tr></thead><tbody></tbody></table>
      <button type="button" class="secondary add-field">${config.text.addField}</button>
      <h3>${config.text.rawJson}</h3><textarea class="raw-json" rows="16" spellcheck="false" aria-label="JSON Schema"></textarea>
      <div class="alert error json-error" hidden role="alert"></div></div>`;
    panel.innerHTML = `<h3>${config.text.preview}</h3><div class="form-preview" aria-live="polite"></div>`;
    this.body = canvas.querySelector("tbody");
    this.raw = canvas.querySelector(".raw-json");
    this.error = canvas.querySelector(".json-error");
    this.preview = panel.querySelector(".form-preview");
    canvas.querySelector(".add-field").addEventListener("click", () => this.addField());
    this.raw.addEventListener("input", () => this.fromRaw());
    this.raw.value = text;
    this.fromRaw(true);
  }

  fromRaw(initial) {
    try {
      this.schema = JSON.parse(this.raw.value);
      this.error.hidden = true;
    } catch (err) {
      this.error.textContent = `${this.config.text.badJson}: ${err.message}`;
      this.error.hidden = false;
      return;
    }
    this.text = this.raw.value;
    this.renderFields();
    this.renderPreview();
    if (!initial) this.changed();
  }

  write() {
    this.text = JSON.stringify(this.schema, null, 2) + "\n";
    this.raw.value = this.text;
    this.renderPreview();
    this.changed();
  }

  addField() {
    const props = this.schema.properties = this.schema.properties || {};
    let n = Object.keys(props).length + 1;
    while (props[`field_${n}`]) n += 1;
    props[`field_${n}`] = { type: "string", title: `Field ${n}`, description: `字段${n}`, maxLength: 200 };
    this.renderFields();
    this.write();
  }

  renderFields() {
    const props = (this.schema && this.schema.properties) || {};
    const required = new Set(this.schema.required || []);
    this.body.innerHTML = "";
    Object.entries(props).forEach(([key, prop]) => {
      const row = document.createElement("tr");
      row.dataset.field = key;
      const cell = (node) => { const td = document.createElement("td"); td.appendChild(node); row.appendChild(td); return node; };
      const keyInput = cell(input({ value: key, size: 14, ariaLabel: this.config.text.fieldKey }));
      keyInput.addEventListener("change", () => this.rename(key, keyInput.value.trim()));
      const en = cell(input({ value: prop.title || "", ariaLabel: this.config.text.labelEn, className: "label-en" }));
      en.addEventListener("input", () => { prop.title = en.value; this.write(); });
      const zh = cell(input({ value: prop.description || "", ariaLabel: this.config.text.labelZh, className: "label-zh" }));
      zh.addEventListener("input", () => { prop.description = zh.value; this.write(); });
      const type = cell(input({ tag: "select", ariaLabel: this.config.text.fieldType }));
      TYPES.forEach((t) => type.appendChild(new Option(this.config.text.types[t] || t, t)));
      type.value = typeOf(prop);
      type.addEventListener("change", () => { applyType(prop, type.value); this.renderFields(); this.write(); });
      const req = cell(input({ type: "checkbox", checked: required.has(key), ariaLabel: this.config.text.required }));
      req.addEventListener("change", () => {
        const now = new Set(this.schema.required || []);
        if (req.checked) now.add(key); else now.delete(key);
        this.schema.required = Object.keys(props).filter((k) => now.has(k));
        this.write();
      });
      const options = cell(input({ value: optionsText(prop), disabled: !prop.enum,
        ariaLabel: this.config.text.options, placeholder: "refund=Refund|退款, coupon=Coupon|优惠券" }));
      options.addEventListener("input", () => { readOptions(prop, options.value); this.write(); });
      const limits = document.createElement("td");
      const numeric = prop.type === "number" || prop.type === "integer";
      (numeric ? [["minimum", "min"], ["maximum", "max"]] : prop.type === "string" && !prop.enum ? [["maxLength", "max len"]] : [])
        .forEach(([name, hint]) => {
          const box = input({ type: "number", value: prop[name] ?? "", placeholder: hint, ariaLabel: name, className: `limit-${name}` });
          box.addEventListener("input", () => {
            if (box.value === "") delete prop[name]; else prop[name] = Number(box.value);
            this.write();
          });
          limits.appendChild(box);
        });
      row.appendChild(limits);
      const remove = cell(input({ tag: "button", type: "button", className: "link", textContent: "✕", ariaLabel: this.config.text.remove }));
      remove.addEventListener("click", () => {
        delete props[key];
        this.schema.required = (this.schema.required || []).filter((k) => k !== key);
        this.renderFields();
        this.write();
      });
      this.body.appendChild(row);
    });
  }

  rename(old, name) {
    if (!name || name === old || this.schema.properties[name]) { this.renderFields(); return; }
    const entries = Object.entries(this.schema.properties).map(([k, v]) => [k === old ? name : k, v]);
    this.schema.properties = Object.fromEntries(entries);
    this.schema.required = (this.schema.required || []).map((k) => (k === old ? name : k));
    this.renderFields();
    this.write();
  }

  renderPreview() {
    window.Aftersales.request(this.config.urls.formPreview, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ schema: this.schema }) })
      .then((r) => r.text()).then((html) => { this.preview.innerHTML = html; });
  }

  save() {
    return Promise.resolve(this.text);
  }

  markers() {}

  select() {}
}
