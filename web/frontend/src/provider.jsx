/* The properties panel's group for what this platform reads from a BPMN element: a lane's
 * department, a user task's form and SLA, a script or condition, a message, a service operation,
 * its parameters, a timer. Values are written where the engine reads them (spiffworkflow:property
 * form/sla, bpmn:script, conditionExpression, messageRef, spiffworkflow:serviceTaskOperator and
 * its spiffworkflow:parameters, the timer's
 * timeDuration/timeDate/timeCycle); each typed value is checked by the server with deploy's own
 * rules (POST /processes/editor/check) and its meaning shown under the field. */
import { SelectEntry, TextAreaEntry, TextFieldEntry, isSelectEntryEdited, isTextAreaEntryEdited,
  isTextFieldEntryEdited } from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { useEffect, useState } from "@bpmn-io/properties-panel/preact/hooks";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

const TIMER_KINDS = ["timeDuration", "timeDate", "timeCycle"];

export default function AftersalesPropertiesProvider(propertiesPanel, config) {
  this._config = config;
  propertiesPanel.registerProvider(500, this);
}
AftersalesPropertiesProvider.$inject = ["propertiesPanel", "config.aftersales"];

AftersalesPropertiesProvider.prototype.getGroups = function (element) {
  const settings = this._config;
  return (groups) => {
    const entries = entriesFor(element, settings);
    if (entries.length) {
      groups.splice(1, 0, { id: "aftersales", label: settings.text.group, entries, shouldOpen: true });
    }
    return groups;
  };
};

function entriesFor(element, settings) {
  const bo = getBusinessObject(element);
  const entries = [];
  const add = (id, component, isEdited) => entries.push({ id, element, component, isEdited, settings });
  if (is(element, "bpmn:Lane")) add("department", DepartmentEntry, isSelectEntryEdited);
  if (is(element, "bpmn:UserTask")) {
    add("form", FormEntry, isSelectEntryEdited);
    add("sla", SlaEntry, isTextFieldEntryEdited);
  }
  if (is(element, "bpmn:ScriptTask")) add("script", ScriptEntry, isTextAreaEntryEdited);
  if (is(element, "bpmn:Task")) {
    add("preScript", PreScriptEntry, isTextAreaEntryEdited);
    add("postScript", PostScriptEntry, isTextAreaEntryEdited);
  }
  if (is(element, "bpmn:SequenceFlow") && isConditional(bo)) add("condition", ConditionEntry, isTextAreaEntryEdited);
  if (messageHolder(bo)) add("message", MessageEntry, isSelectEntryEdited);
  if (is(element, "bpmn:ServiceTask")) add("operation", OperationEntry, isSelectEntryEdited);
  if (is(element, "bpmn:ServiceTask") && extension(bo, "spiffworkflow:ServiceTaskOperator")) {
    add("parameters", ParametersEntry, isTextAreaEntryEdited);
  }
  if (timerDefinition(bo)) {
    add("timerKind", TimerKindEntry, isSelectEntryEdited);
    add("timer", TimerEntry, isTextFieldEntryEdited);
  }
  return entries;
}

function isConditional(flow) {
  const source = flow.sourceRef;
  return !!flow.conditionExpression || (source && (is(source, "bpmn:ExclusiveGateway")
    || is(source, "bpmn:InclusiveGateway")) && source.default !== flow);
}

function eventDefinition(bo, type) {
  return (bo.eventDefinitions || []).find((d) => is(d, type));
}

function messageHolder(bo) {
  if (is(bo, "bpmn:ReceiveTask") || is(bo, "bpmn:SendTask")) return bo;
  return eventDefinition(bo, "bpmn:MessageEventDefinition");
}

function timerDefinition(bo) {
  return eventDefinition(bo, "bpmn:TimerEventDefinition");
}

/* ----------------------------------------------------------- spiffworkflow:property values */

function extension(bo, type) {
  return ((bo.extensionElements && bo.extensionElements.values) || []).find((v) => is(v, type));
}

export function propertyValue(bo, name) {
  const props = extension(bo, "spiffworkflow:Properties");
  const found = props && (props.properties || []).find((p) => p.name === name);
  return found ? found.value || "" : "";
}

function setProperty(element, name, value, bpmnFactory, commandStack) {
  const bo = getBusinessObject(element);
  const commands = [];
  let extensionElements = bo.extensionElements;
  if (!extensionElements) {
    extensionElements = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    commands.push(["element.updateModdleProperties", { element, moddleElement: bo, properties: { extensionElements } }]);
  }
  let props = extension(bo, "spiffworkflow:Properties");
  if (!props) {
    props = bpmnFactory.create("spiffworkflow:Properties", { properties: [] });
    commands.push(["element.updateModdleProperties", { element, moddleElement: extensionElements,
      properties: { values: [...(extensionElements.values || []), props] } }]);
  }
  const existing = (props.properties || []).find((p) => p.name === name);
  if (existing && value) {
    commands.push(["element.updateModdleProperties", { element, moddleElement: existing, properties: { value } }]);
  } else if (existing) {
    commands.push(["element.updateModdleProperties", { element, moddleElement: props,
      properties: { properties: props.properties.filter((p) => p !== existing) } }]);
  } else if (value) {
    const created = bpmnFactory.create("spiffworkflow:Property", { name, value });
    commands.push(["element.updateModdleProperties", { element, moddleElement: props,
      properties: { properties: [...(props.properties || []), created] } }]);
  }
  commandStack.execute("properties-panel.multi-command-executor",
    commands.map(([cmd, context]) => ({ cmd, context })));
}

/* ----------------------------------------------------------- the server's check, as you type */

function useCheck(settings, kind, text) {
  const [result, setResult] = useState(null);
  useEffect(() => {
    let alive = true;
    const timer = setTimeout(() => {
      settings.check(kind, text || "").then((r) => { if (alive) setResult(r); });
    }, 300);
    return () => { alive = false; clearTimeout(timer); };
  }, [kind, text]);
  return result;
}

function CheckResult({ result, settings, describe }) {
  if (!result) return null;
  if (!result.ok) return <span class="as-check as-check-error" role="alert">{result.error}</span>;
  const meaning = describe ? describe(result.preview) : null;
  return <span class="as-check as-check-ok">{settings.text.ok}{meaning ? ` · ${meaning}` : ""}</span>;
}

function checkedDescription(settings, kind, text, describe) {
  const result = useCheck(settings, kind, text);
  return <CheckResult result={result} settings={settings} describe={describe} />;
}

/* ----------------------------------------------------------- entries */

function DepartmentEntry({ element, id, settings }) {
  const modeling = useService("modeling");
  const known = settings.vocabulary.departments;
  const getOptions = () => {
    const current = getBusinessObject(element).name;
    const options = known.map((d) => ({ value: d, label: `${settings.labels[d] || d} (${d})` }));
    if (current && !known.includes(current)) options.unshift({ value: current, label: `${current} ⚠` });
    return [{ value: "", label: "—" }, ...options];
  };
  return <SelectEntry id={id} element={element} label={settings.text.department}
    getValue={() => getBusinessObject(element).name || ""}
    setValue={(value) => modeling.updateProperties(element, { name: value || undefined })}
    getOptions={getOptions} />;
}

function FormEntry({ element, id, settings }) {
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const getOptions = () => {
    const current = propertyValue(getBusinessObject(element), "form");
    const names = new Set([...settings.vocabulary.forms, ...settings.draftForms()]);
    if (current) names.add(current);
    return [{ value: "", label: "—" }, ...[...names].sort().map((f) => ({ value: f, label: f })),
      { value: "__new__", label: settings.text.newForm }];
  };
  const setValue = (value) => {
    let name = value;
    if (value === "__new__") name = settings.createForm(getBusinessObject(element));
    if (name !== null) setProperty(element, "form", name, bpmnFactory, commandStack);
  };
  return <SelectEntry id={id} element={element} label={settings.text.form}
    getValue={() => propertyValue(getBusinessObject(element), "form")}
    setValue={setValue} getOptions={getOptions} />;
}

function SlaEntry({ element, id, settings }) {
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const debounce = useService("debounceInput");
  const value = propertyValue(getBusinessObject(element), "sla");
  const describe = (p) => p && (p.field ? settings.text.slaField.replace("%s", p.field)
    : settings.text.slaDue.replace("%s", settings.formatTime(p.due_at)));
  return <TextFieldEntry id={id} element={element} label={settings.text.sla} debounce={debounce}
    description={checkedDescription(settings, "sla", value, describe)}
    getValue={() => propertyValue(getBusinessObject(element), "sla")}
    setValue={(v) => setProperty(element, "sla", (v || "").trim(), bpmnFactory, commandStack)} />;
}

function ScriptEntry({ element, id, settings }) {
  const modeling = useService("modeling");
  const debounce = useService("debounceInput");
  const value = getBusinessObject(element).script || "";
  return <TextAreaEntry id={id} element={element} label={settings.text.script} debounce={debounce}
    monospace rows={6} description={checkedDescription(settings, "script", value)}
    getValue={() => getBusinessObject(element).script || ""}
    setValue={(v) => modeling.updateProperties(element, { scriptFormat: "python", script: v })} />;
}

/* spiffworkflow:preScript / postScript: run before and after any task, in the same sandbox. */
function extensionScriptEntry(type, label) {
  return function ExtensionScriptEntry({ element, id, settings }) {
    const bpmnFactory = useService("bpmnFactory");
    const commandStack = useService("commandStack");
    const debounce = useService("debounceInput");
    const read = () => (extension(getBusinessObject(element), type) || {}).value || "";
    const setValue = (value) => {
      const bo = getBusinessObject(element);
      const current = extension(bo, type);
      if (current && value) {
        commandStack.execute("element.updateModdleProperties", { element, moddleElement: current, properties: { value } });
        return;
      }
      const extensionElements = bo.extensionElements || bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
      const values = (extensionElements.values || []).filter((v) => v !== current);
      if (value) values.push(bpmnFactory.create(type, { value }));
      const commands = [];
      if (!bo.extensionElements) {
        commands.push({ cmd: "element.updateModdleProperties", context: { element, moddleElement: bo, properties: { extensionElements } } });
      }
      commands.push({ cmd: "element.updateModdleProperties", context: { element, moddleElement: extensionElements, properties: { values } } });
      commandStack.execute("properties-panel.multi-command-executor", commands);
    };
    const value = read();
    const checked = checkedDescription(settings, "script", value);     // a hook: every render
    return <TextAreaEntry id={id} element={element} label={settings.text[label]} debounce={debounce}
      monospace rows={3} description={value ? checked : null}
      getValue={read} setValue={setValue} />;
  };
}

const PreScriptEntry = extensionScriptEntry("spiffworkflow:PreScript", "preScript");
const PostScriptEntry = extensionScriptEntry("spiffworkflow:PostScript", "postScript");

function ConditionEntry({ element, id, settings }) {
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const debounce = useService("debounceInput");
  const read = () => (getBusinessObject(element).conditionExpression || {}).body || "";
  const setValue = (v) => modeling.updateProperties(element, { conditionExpression: v
    ? bpmnFactory.create("bpmn:FormalExpression", { body: v }) : undefined });
  return <TextAreaEntry id={id} element={element} label={settings.text.condition} debounce={debounce}
    monospace rows={2} description={checkedDescription(settings, "expression", read())}
    getValue={read} setValue={setValue} />;
}

function MessageEntry({ element, id, settings }) {
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const canvas = useService("canvas");
  const holder = () => messageHolder(getBusinessObject(element));
  const getOptions = () => {
    const current = (holder().messageRef || {}).name;
    const names = new Set([...settings.vocabulary.messages, ...settings.draftMessages()]);
    if (current) names.add(current);
    return [{ value: "", label: "—" }, ...[...names].sort().map((m) => ({ value: m, label: m }))];
  };
  const setValue = (name) => {
    const definitions = canvas.getRootElement().businessObject.$parent;
    const commands = [];
    let message = name && definitions.rootElements.find((e) => is(e, "bpmn:Message") && e.name === name);
    if (name && !message) {
      message = bpmnFactory.create("bpmn:Message", { name });
      message.$parent = definitions;
      commands.push({ cmd: "element.updateModdleProperties", context: { element, moddleElement: definitions,
        properties: { rootElements: [...definitions.rootElements, message] } } });
    }
    commands.push({ cmd: "element.updateModdleProperties", context: { element, moddleElement: holder(),
      properties: { messageRef: message || undefined } } });
    commandStack.execute("properties-panel.multi-command-executor", commands);
  };
  return <SelectEntry id={id} element={element} label={settings.text.message}
    getValue={() => (holder().messageRef || {}).name || ""} setValue={setValue} getOptions={getOptions} />;
}

function OperationEntry({ element, id, settings }) {
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const operator = () => extension(getBusinessObject(element), "spiffworkflow:ServiceTaskOperator");
  const known = settings.vocabulary.operations;
  const getOptions = () => [{ value: "", label: "—" },
    ...known.map((o) => ({ value: o.operation, label: o.operation }))];
  const setValue = (value) => {
    const bo = getBusinessObject(element);
    const current = operator();
    if (current) {
      commandStack.execute("element.updateModdleProperties", { element, moddleElement: current, properties: { id: value } });
      return;
    }
    const created = bpmnFactory.create("spiffworkflow:ServiceTaskOperator", { id: value });
    const extensionElements = bo.extensionElements || bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    const commands = [];
    if (!bo.extensionElements) {
      commands.push({ cmd: "element.updateModdleProperties", context: { element, moddleElement: bo, properties: { extensionElements } } });
    }
    commands.push({ cmd: "element.updateModdleProperties", context: { element, moddleElement: extensionElements,
      properties: { values: [...(extensionElements.values || []), created] } } });
    commandStack.execute("properties-panel.multi-command-executor", commands);
  };
  const chosen = known.find((o) => o.operation === (operator() || {}).id);
  return <SelectEntry id={id} element={element} label={settings.text.operation}
    description={chosen ? chosen.description + (chosen.result ? ` → ${chosen.result}` : "") : ""}
    getValue={() => (operator() || {}).id || ""} setValue={setValue} getOptions={getOptions} />;
}

/* The operation's parameters, one per line: `name: type = expression` (the expression is read
 * in the task's data when the intent is recorded; deploy's validation checks it). */
function ParametersEntry({ element, id, settings }) {
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const debounce = useService("debounceInput");
  const operator = () => extension(getBusinessObject(element), "spiffworkflow:ServiceTaskOperator");
  const read = () => (((operator() || {}).parameterList || {}).parameters || [])
    .map((p) => `${p.id}: ${p.type || "any"} = ${p.value || ""}`).join("\n");
  const setValue = (text) => {
    const parameters = text.split("\n").map(parameterOf).filter(Boolean)
      .map((p) => bpmnFactory.create("spiffworkflow:Parameter", p));
    commandStack.execute("element.updateModdleProperties", { element, moddleElement: operator(),
      properties: { parameterList: bpmnFactory.create("spiffworkflow:Parameters", { parameters }) } });
  };
  return <TextAreaEntry id={id} element={element} label={settings.text.parameters}
    description={settings.text.parametersHint} debounce={debounce} getValue={read} setValue={setValue} />;
}

function parameterOf(line) {
  const found = line.match(/^\s*([A-Za-z_]\w*)\s*(?::\s*(\w+))?\s*=\s*(.+?)\s*$/);
  return found ? { id: found[1], type: found[2] || "any", value: found[3] } : null;
}

function timerKind(definition) {
  return TIMER_KINDS.find((k) => definition[k]) || "timeDuration";
}

/* Which of a timer's three parts it has: the expression moves to the part chosen. */
function TimerKindEntry({ element, id, settings }) {
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const definition = () => timerDefinition(getBusinessObject(element));
  const setValue = (kind) => {
    const body = (definition()[timerKind(definition())] || {}).body || "";
    modeling.updateModdleProperties(element, definition(), {
      timeDuration: undefined, timeDate: undefined, timeCycle: undefined,
      [kind]: bpmnFactory.create("bpmn:FormalExpression", { body }) });
  };
  return <SelectEntry id={id} element={element} label={settings.text.timerKind}
    getValue={() => timerKind(definition())} setValue={setValue}
    getOptions={() => TIMER_KINDS.map((k) => ({ value: k, label: settings.text.timerKinds[k] }))} />;
}

function TimerEntry({ element, id, settings }) {
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const debounce = useService("debounceInput");
  const definition = () => timerDefinition(getBusinessObject(element));
  const kind = () => timerKind(definition());
  const read = () => (definition()[kind()] || {}).body || "";
  const setValue = (v) => modeling.updateModdleProperties(element, definition(), {
    [kind()]: bpmnFactory.create("bpmn:FormalExpression", { body: v }) });
  const describe = (p) => p && (p.due_at ? settings.text.timerDue.replace("%s", settings.formatTime(p.due_at))
    : settings.text.timerCycle.replace("%n", p.repetitions < 0 ? "∞" : p.repetitions)
      .replace("%s", settings.formatSeconds(p.interval_seconds)));
  return <TextFieldEntry id={id} element={element} label={`${settings.text.timer} (${kind()})`} debounce={debounce}
    description={checkedDescription(settings, kind(), read(), describe)} getValue={read} setValue={setValue} />;
}
