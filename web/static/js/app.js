/* Small helpers every page uses: fetch with the session's CSRF token, forms that swap a
 * fragment in place instead of reloading the page (data-fragment="#target"), and tabs. */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta.content;

  /* The session's CSRF token as the page holds it now (the inbox renews it: inbox.js). */
  function request(url, options) {
    options = options || {};
    options.headers = Object.assign({ "X-Requested-With": "fetch", "X-CSRF-Token": meta.content },
                                    options.headers || {});
    options.credentials = "same-origin";
    return fetch(url, options);
  }

  /* Put server HTML into `target`, then wake up tabs and diagrams inside it. */
  function swap(target, html) {
    target.innerHTML = html;
    setupTabs(target);
    if (window.AftersalesDiagrams) window.AftersalesDiagrams.mountAll(target);
    document.dispatchEvent(new CustomEvent("fragment:swapped", { detail: { target: target } }));
  }

  function load(url, target) {
    target.classList.add("loading");
    return request(url).then(function (response) {
      return response.text().then(function (html) {
        target.classList.remove("loading");
        swap(target, html);
        return response;
      });
    });
  }

  function submitFragment(form, submitter) {
    var target = document.querySelector(form.dataset.fragment);
    var data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    target.classList.add("loading");
    // getAttribute: a field named "action" would shadow form.action
    return request(form.getAttribute("action"), { method: "POST", body: data }).then(function (response) {
      return response.text().then(function (html) {
        target.classList.remove("loading");
        swap(target, html);
        document.dispatchEvent(new CustomEvent("fragment:posted", { detail: { response: response, form: form } }));
      });
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.fragment) return;
    event.preventDefault();
    submitFragment(form, event.submitter);
  });

  function setupTabs(root) {
    (root || document).querySelectorAll(".tabs").forEach(function (tabs) {
      if (tabs.dataset.ready) return;
      tabs.dataset.ready = "1";
      var scope = tabs.parentElement;
      tabs.querySelectorAll("[data-tab]").forEach(function (tab) {
        tab.addEventListener("click", function () {
          tabs.querySelectorAll("[data-tab]").forEach(function (t) {
            t.setAttribute("aria-selected", t === tab ? "true" : "false");
          });
          scope.querySelectorAll(":scope > .tab-panel").forEach(function (panel) {
            panel.hidden = panel.dataset.panel !== tab.dataset.tab;
          });
          if (window.AftersalesDiagrams) window.AftersalesDiagrams.mountAll(scope);
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { setupTabs(document); });

  window.Aftersales = { request: request, load: load, swap: swap, csrf: csrf };
})();
