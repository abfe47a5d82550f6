// streamreid report: decisions (accept / reject / undo -> decisions.json), find and sort persons, person details.
(function () {
  "use strict";
  var payload = JSON.parse(document.getElementById("report-data").textContent);
  var decisions = new Map();

  function keyOf(groups) {
    return groups.map(function (g) { return g.slice().sort(function (a, b) { return a - b; }).join(","); })
      .sort().join("|");
  }

  function decide(holder, action) {
    var groups = JSON.parse(holder.getAttribute("data-groups"));
    var persons = holder.getAttribute("data-persons").split(",").map(Number);
    var key = keyOf(groups);
    var current = decisions.get(key);
    if (current && current.action === action) {
      decisions.delete(key);
    } else {
      decisions.set(key, {action: action, persons: persons, tracklets: groups});
    }
    refresh();
  }

  function refresh() {
    document.querySelectorAll("[data-groups]").forEach(function (holder) {
      var chosen = decisions.get(keyOf(JSON.parse(holder.getAttribute("data-groups"))));
      holder.classList.remove("decided-merge", "decided-reject", "decided-split");
      if (chosen) { holder.classList.add("decided-" + chosen.action); }
      holder.querySelectorAll("button[data-decide]").forEach(function (button) {
        var on = !!chosen && chosen.action === button.getAttribute("data-decide");
        button.setAttribute("aria-pressed", on ? "true" : "false");
      });
    });
    var bar = document.getElementById("decision-bar");
    document.getElementById("decision-count").textContent = String(decisions.size);
    bar.hidden = decisions.size === 0;
  }

  function decisionsDocument() {
    return {
      format: "streamreid-decisions",
      version: 1,
      run: payload.run,
      decisions: payload.held.concat(Array.from(decisions.values()))
    };
  }
  window.streamreidDecisions = decisionsDocument;

  function save() {
    var text = JSON.stringify(decisionsDocument(), null, 1) + "\n";
    var url = URL.createObjectURL(new Blob([text], {type: "application/json"}));
    var link = document.createElement("a");
    link.href = url;
    link.download = "decisions.json";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 2000);
  }

  // person details in a dialog, filled from the person's <template>
  var dialog = document.getElementById("person-dialog");
  function openPerson(id) {
    var template = document.getElementById("detail-" + id);
    if (!template || !dialog) { return; }
    var body = dialog.querySelector(".dialog-body");
    body.replaceChildren(template.content.cloneNode(true));
    refresh();
    if (typeof dialog.showModal === "function") { dialog.showModal(); } else { dialog.setAttribute("open", ""); }
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : null;
    if (!target) { return; }
    var button = target.closest("button[data-decide]");
    if (button) {
      var holder = button.closest("[data-groups]");
      if (holder) { decide(holder, button.getAttribute("data-decide")); }
      return;
    }
    var jump = target.closest("dialog a[href^='#pair-']");
    if (jump && dialog) { dialog.close(); return; }
    var opener = target.closest("[data-open]") || target.closest("svg#timeline g.row[data-person]");
    if (opener) {
      event.preventDefault();
      openPerson(opener.getAttribute("data-open") || opener.getAttribute("data-person"));
      return;
    }
    if (target.closest("#save-decisions")) { save(); return; }
    if (target.closest("#clear-decisions")) { decisions.clear(); refresh(); }
  });

  // hovering a name in the key of the paths picture shows that person's path alone
  var where = document.querySelector("#where .scene");
  function focus(id) {
    if (!where) { return; }
    where.classList.toggle("focus", id !== null);
    where.querySelectorAll("g.path").forEach(function (path) {
      path.classList.toggle("on", path.getAttribute("data-person") === id);
    });
  }
  document.querySelectorAll("[data-focus]").forEach(function (key) {
    key.addEventListener("mouseenter", function () { focus(key.getAttribute("data-focus")); });
    key.addEventListener("mouseleave", function () { focus(null); });
  });

  // find, filter and sort persons
  var grid = document.getElementById("people-grid");
  var find = document.getElementById("find");
  var sort = document.getElementById("sort");
  var returning = document.getElementById("returning");
  var sorters = {
    rank: function (a, b) { return num(a, "rank") - num(b, "rank"); },
    start: function (a, b) { return num(a, "start") - num(b, "start") || num(a, "rank") - num(b, "rank"); },
    seconds: function (a, b) { return num(b, "seconds") - num(a, "seconds") || num(a, "rank") - num(b, "rank"); },
    visits: function (a, b) { return num(b, "visits") - num(a, "visits") || num(a, "rank") - num(b, "rank"); }
  };
  function num(card, name) { return Number(card.getAttribute("data-" + name)); }
  function arrange() {
    if (!grid) { return; }
    var query = find.value.trim().toLowerCase().replace(/^p/, "");
    var cards = Array.prototype.slice.call(grid.children);
    var shown = 0;
    cards.forEach(function (card) {
      var id = card.getAttribute("data-person");
      var visible = (!query || id.indexOf(query) === 0) && (!returning.checked || num(card, "visits") > 1);
      card.hidden = !visible;
      if (visible) { shown += 1; }
    });
    cards.sort(sorters[sort.value] || sorters.rank).forEach(function (card) { grid.appendChild(card); });
    document.getElementById("shown-count").textContent = shown + " shown";
  }
  if (grid) {
    find.addEventListener("input", arrange);
    sort.addEventListener("change", arrange);
    returning.addEventListener("change", arrange);
  }
  refresh();
})();
