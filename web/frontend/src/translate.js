/* bpmn-js and dmn-js speak English; on a Chinese page their own menus, tools and the standard
 * properties panel speak Chinese (diagram-js's `translate` service, replaced here). A text not
 * listed stays English; the platform's own entries (provider.jsx) are translated by the page. */

const ZH = {
  // tools and palette
  "Activate hand tool": "抓手工具（移动画布）",
  "Activate lasso tool": "套索工具（框选）",
  "Activate create/remove space tool": "插入/删除空间工具",
  "Activate global connect tool": "连线工具",
  "Create start event": "新建开始事件",
  "Create intermediate/boundary event": "新建中间/边界事件",
  "Create end event": "新建结束事件",
  "Create gateway": "新建网关",
  "Create task": "新建任务",
  "Create expanded sub-process": "新建展开的子流程",
  "Create data object reference": "新建数据对象引用",
  "Create data store reference": "新建数据存储引用",
  "Create group": "新建分组",
  "Create pool/participant": "新建池/参与者",
  "Search in diagram": "在图中搜索",
  // context pad
  "Append end event": "追加结束事件",
  "Append gateway": "追加网关",
  "Append task": "追加任务",
  "Append intermediate/boundary event": "追加中间/边界事件",
  "Append message intermediate catch event": "追加消息中间捕获事件",
  "Append timer intermediate catch event": "追加定时器中间捕获事件",
  "Append signal intermediate catch event": "追加信号中间捕获事件",
  "Append conditional intermediate catch event": "追加条件中间捕获事件",
  "Append receive task": "追加接收任务",
  "Append compensation activity": "追加补偿活动",
  "Add text annotation": "添加文字注释",
  "Add lane above": "在上方添加泳道",
  "Add lane below": "在下方添加泳道",
  "Divide into two lanes": "拆分为两个泳道",
  "Divide into three lanes": "拆分为三个泳道",
  "Change element": "更改元素类型",
  "Delete": "删除",
  "Connect to other element": "连接到其他元素",
  "Connect using association": "用关联连接",
  "Connect using data input association": "用数据输入关联连接",
  "Align elements": "对齐元素",
  "Distribute elements horizontally": "水平分布",
  "Distribute elements vertically": "垂直分布",
  "Toggle non-interrupting": "切换非中断",
  "Loop": "循环",
  "Parallel multi-instance": "并行多实例",
  "Sequential multi-instance": "串行多实例",
  "Collection": "集合",
  "Open {element}": "打开 {element}",
  // element types (replace menu)
  "Task": "任务", "User task": "用户任务", "Service task": "服务任务", "Script task": "脚本任务",
  "Send task": "发送任务", "Receive task": "接收任务", "Manual task": "手工任务",
  "Business rule task": "业务规则任务", "Call activity": "调用活动", "Sub-process": "子流程",
  "Sub-process (collapsed)": "子流程（折叠）", "Sub-process (expanded)": "子流程（展开）",
  "Transaction": "事务", "Event sub-process": "事件子流程", "Ad-hoc sub-process": "临时子流程",
  "Start event": "开始事件", "End event": "结束事件",
  "Message start event": "消息开始事件", "Timer start event": "定时器开始事件",
  "Signal start event": "信号开始事件", "Conditional start event": "条件开始事件",
  "Message end event": "消息结束事件", "Error end event": "错误结束事件",
  "Terminate end event": "终止结束事件", "Signal end event": "信号结束事件",
  "Cancel end event": "取消结束事件", "Escalation end event": "升级结束事件",
  "Intermediate throw event": "中间抛出事件",
  "Message intermediate catch event": "消息中间捕获事件",
  "Message intermediate throw event": "消息中间抛出事件",
  "Timer intermediate catch event": "定时器中间捕获事件",
  "Signal intermediate catch event": "信号中间捕获事件",
  "Signal intermediate throw event": "信号中间抛出事件",
  "Exclusive gateway": "排他网关", "Parallel gateway": "并行网关",
  "Inclusive gateway": "包容网关", "Event-based gateway": "事件网关",
  "Complex gateway": "复杂网关", "Sequence flow": "顺序流", "Default flow": "默认流",
  "Conditional flow": "条件流",
  // the standard properties panel
  "General": "常规", "Name": "名称", "ID": "ID", "Documentation": "文档",
  "Element documentation": "元素文档", "Process documentation": "流程文档",
  "Executable": "可执行", "Version tag": "版本标签", "Condition": "条件",
  "Condition expression": "条件表达式", "Timer": "定时器", "Type": "类型", "Value": "值",
  "Message": "消息", "Signal": "信号", "Escalation": "升级", "Error": "错误",
  "Inputs": "输入", "Outputs": "输出", "Multi-instance": "多实例",
  "Extension properties": "扩展属性", "Add": "添加", "Remove": "移除",
  "<none>": "<无>", "Global message reference": "全局消息引用",
  "Global signal reference": "全局信号引用", "Date": "日期", "Duration": "时长",
  "Cycle": "周期", "Implementation": "实现", "Script": "脚本", "Format": "格式",
  "Called element": "被调用元素", "Process": "流程", "Participant": "参与者",
  "Lane": "泳道", "Category": "类别", "Text": "文本",
};

function translator(words) {
  return function translate(template, replacements = {}) {
    const text = words[template] || template;
    return text.replace(/{([^}]+)}/g, (_, key) => replacements[key] ?? `{${key}}`);
  };
}

/* The additionalModules entry that makes a modeler speak the page's language. */
export function translateModule(locale) {
  return { translate: ["value", translator(locale === "zh-CN" ? ZH : {})] };
}
