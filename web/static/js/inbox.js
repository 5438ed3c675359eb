/* The inbox: open a task without reloading, keyboard moves (j/k, Enter, c to claim, r to hand
 * back), refresh the list after claim/release/complete, keep typed work when the server refuses
 * it, say who else has the task open, and follow the live queue (live.js). */
(function () {
  "use strict";

  var list = document.getElementById("task-list");
  var detail = document.getElementById("task-detail");
  if (!detail) return;

  function rows() { return list ? Array.from(list.querySelectorAll(".task-row")) : []; }
  function selected() { return list && list.querySelector(".task-row.selected"); }

  function select(row, open) {
    rows().forEach(function (r) {
      r.classList.toggle("selected", r === row);
      if (r === row) r.setAttribute("aria-current", "true"); else r.removeAttribute("aria-current");
    });
    var link = row.querySelector(".task-link");
    (link || row).focus();
    row.scrollIntoView({ block: "nearest" });
    var shown = detail.querySelector(".task-detail");
    if (open && !(shown && shown.dataset.taskId === row.dataset.taskId)) {
      window.Aftersales.load(row.dataset.url, detail);
      var url = new URL(window.location.href);
      url.searchParams.set("task", row.dataset.taskId);
      history.replaceState(null, "", url);
    }
  }

  function refreshList(taskId) {
    if (!list) return;
    var current = selected();
    var id = taskId || (current && current.dataset.taskId);
    var query = list.dataset.query;
    var url = list.dataset.listUrl + "?" + query + (id ? "&task=" + encodeURIComponent(id) : "");
    return window.Aftersales.load(url, list);
  }

  if (list) {
    list.addEventListener("click", function (event) {
      var row = event.target.closest(".task-row");
      if (!row || event.ctrlKey || event.metaKey || event.shiftKey) return;   // a new tab
      event.preventDefault();
      select(row, true);
    });
  }

  /* Tabs of the task pane, as the ARIA tabs pattern has them: one tab stop, arrows move. */
  detail.addEventListener("keydown", function (event) {
    var tab = event.target.closest('[role="tab"]');
    if (!tab || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    var tabs = Array.from(tab.parentElement.querySelectorAll('[role="tab"]'));
    var next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next.click(); next.focus(); event.preventDefault();
  });
  detail.addEventListener("click", function (event) {
    var tab = event.target.closest('[role="tab"]');
    if (!tab) return;
    tab.parentElement.querySelectorAll('[role="tab"]').forEach(function (t) { t.tabIndex = t === tab ? 0 : -1; });
  });

  /* Never lose typed work. A form marked data-keep-input is sent here, not by app.js: field
   * errors (422) come back as the form with its values and replace the pane; any other refusal
   * (409, 403, a refused CSRF token, no network) leaves the form as typed and shows the
   * server's sentence above it. A refused CSRF token is renewed and the form sent once more. */
  function renewToken() {
    return fetch(detail.dataset.tokenUrl || "/session/csrf", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.message || response.statusText);
          document.querySelector('meta[name="csrf-token"]').content = body.token;
          document.querySelectorAll('input[name="csrf_token"]').forEach(function (i) { i.value = body.token; });
          return body.token;
        });
      });
  }

  function keepAndSay(form, html, kind) {
    var old = form.querySelector(".alert.kept");
    if (old) old.remove();
    var box = document.createElement("div");
    box.className = "alert kept " + (kind || "error");
    box.setAttribute("role", "alert");
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var said = holder.querySelector(".alert");
    box.textContent = said ? said.textContent : holder.textContent;
    form.insertBefore(box, form.firstChild);
    box.scrollIntoView({ block: "nearest" });
  }

  function send(form, submitter, retried) {
    var data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    if (list && list.dataset.query !== undefined) data.append("list", list.dataset.query);
    detail.classList.add("loading");
    return window.Aftersales.request(form.getAttribute("action"), { method: "POST", body: data })
      .then(function (response) {
        return response.text().then(function (html) {
          detail.classList.remove("loading");
          if (response.headers.get("X-CSRF-Refused") && !retried) {
            return renewToken().then(function () { return send(form, submitter, true); },
                                     function (err) { keepAndSay(form, err.message); });
          }
          if (response.ok || response.status === 422 && !response.headers.get("X-Keep-Input")) {
            window.Aftersales.swap(detail, html);
            var next = response.headers.get("X-Task-Id");
            if (next) {
              var url = new URL(window.location.href);
              url.searchParams.set("task", next);
              history.replaceState(null, "", url);
            }
            document.dispatchEvent(new CustomEvent("fragment:posted", { detail: { response: response, form: form } }));
            return;
          }
          var version = response.headers.get("X-Task-Version");
          if (version && form.elements.version) form.elements.version.value = version;
          keepAndSay(form, html);
        });
      }, function () {
        detail.classList.remove("loading");
        keepAndSay(form, form.dataset.offline || "Offline");
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.keepInput) return;
    event.preventDefault();
    event.stopImmediatePropagation();        // app.js would replace the pane
    send(form, event.submitter, false);
  }, true);

  /* Presence: the open pane says so every 20 s and shows who else has the task open. */
  var beat = null, beating = null;
  function presence(url, left) {
    var data = new FormData();
    if (left) data.append("left", "1");
    return window.Aftersales.request(url, { method: "POST", body: data }).then(function (response) {
      return response.ok ? response.json() : null;
    }).catch(function () { return null; });
  }
  function watchPresence() {
    var span = detail.querySelector(".presence[data-presence-url]");
    var url = span ? span.dataset.presenceUrl : null;
    if (url === beating) return;
    if (beating) presence(beating, true);
    clearInterval(beat);
    beating = url;
    if (!url) return;
    var tick = function () {
      presence(url, false).then(function (body) {
        var now = detail.querySelector(".presence[data-presence-url]");
        if (body && now && now.dataset.presenceUrl === url) now.textContent = body.message;
      });
    };
    tick();
    beat = setInterval(tick, 20000);
  }
  document.addEventListener("fragment:swapped", function (event) {
    if (event.detail.target === detail) watchPresence();
  });
  window.addEventListener("pagehide", function () { if (beating) presence(beating, true); });
  watchPresence();

  /* The live queue (live.js) says the list changed: refresh it, keeping the selection. */
  document.addEventListener("queue:changed", function () { refreshList(); });

  document.addEventListener("fragment:posted", function (event) {
    var headers = event.detail.response.headers;
    if (headers.get("X-Refresh-List")) refreshList(headers.get("X-Task-Id"));
  });

  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.getAttribute && event.target.getAttribute("role") === "tab") return;
    var all = rows();
    var focused = event.target.closest ? event.target.closest(".task-row") : null;
    var index = all.indexOf(focused || selected());
    if (event.key === "j" && all.length) { select(all[Math.min(all.length - 1, index + 1)], false); }
    else if (event.key === "k" && all.length) { select(all[Math.max(0, index - 1)], false); }
    else if (event.key === "Enter" && index >= 0) { select(all[index], true); }
    else if (event.key === "c" || event.key === "r" || event.key === "n") {
      var button = detail.querySelector('button[data-key="' + event.key + '"]');
      if (button) button.click();
    } else { return; }
    event.preventDefault();
  });

})();
