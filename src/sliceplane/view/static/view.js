// sliceplane view: apply the server's fragment updates; filter endpoints. No build step.
// One EventSource per page (server-sent events); the server sends whole elements with a
// content hash (data-h), and only when they changed, so the page never re-renders whole.
(function () {
  "use strict";
  var body = document.body;
  var live = document.getElementById("live");
  var filters = { zone: "", node: "", state: "" };

  function say(text) {
    if (live && live.textContent !== text) live.textContent = text;
  }

  function matches(li) {
    return (!filters.zone || li.getAttribute("data-zone") === filters.zone) &&
      (!filters.node || li.getAttribute("data-node") === filters.node) &&
      (!filters.state || li.getAttribute("data-state") === filters.state);
  }

  function filter(root) {
    var items = root.querySelectorAll("li.ep");
    for (var i = 0; i < items.length; i++) items[i].hidden = !matches(items[i]);
  }

  function readFilters() {
    var selects = document.querySelectorAll("select[data-filter]");
    for (var i = 0; i < selects.length; i++) {
      filters[selects[i].getAttribute("data-filter")] = selects[i].value;
    }
  }

  function insertSorted(parent, node) {
    // Keep siblings in id order (slice names, Service names), as the server renders them.
    var kids = parent.children;
    for (var i = 0; i < kids.length; i++) {
      if (kids[i].id && kids[i].id > node.id) { parent.insertBefore(node, kids[i]); return; }
    }
    parent.appendChild(node);
  }

  function apply(op) {
    var el = document.getElementById(op.id);
    if (op.remove) { if (el) el.remove(); return; }
    if (el && el.getAttribute("data-h") === op.h) return;
    var tpl = document.createElement("template");
    tpl.innerHTML = op.html;
    var node = tpl.content.firstElementChild;
    if (!node) return;
    var focused = document.activeElement && el && el.contains(document.activeElement)
      ? document.activeElement.id : "";
    if (node.id === "filters") {
      // Keep the user's choices across a re-render of the filter options.
      var selects = node.querySelectorAll("select[data-filter]");
      for (var i = 0; i < selects.length; i++) {
        var want = filters[selects[i].getAttribute("data-filter")];
        if (want && !selects[i].querySelector('option[value="' + CSS.escape(want) + '"]')) {
          var opt = document.createElement("option");
          opt.value = want; opt.textContent = want;
          selects[i].appendChild(opt);
        }
        selects[i].value = want || "";
      }
    }
    if (el) {
      el.replaceWith(node);
    } else {
      var parent = document.getElementById(op.parent);
      if (!parent) return;
      insertSorted(parent, node);
    }
    if (node.classList.contains("card")) filter(node);
    if (focused) {
      var again = document.getElementById(focused);
      if (again) again.focus();
    }
  }

  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t && t.getAttribute && t.getAttribute("data-filter") !== null) {
      readFilters();
      var slices = document.getElementById("slices");
      if (slices) filter(slices);
    }
  });

  var url = body.getAttribute("data-stream");
  if (!url || !window.EventSource) { say("static page (no live updates)"); return; }
  var updates = 0;
  var source = new EventSource(url);
  source.addEventListener("open", function () { say("live"); });
  source.addEventListener("error", function () { say("reconnecting…"); });
  source.addEventListener("frags", function (ev) {
    var ops = JSON.parse(ev.data);
    for (var i = 0; i < ops.length; i++) apply(ops[i]);
    updates += 1;
    body.setAttribute("data-updates", String(updates));
    say("live");
  });
})();
