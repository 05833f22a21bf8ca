/* Gridding pages: run a plan; preview, adjust (move a building to a neighbouring area) and approve. */
(function () {
  "use strict";
  function csrf() { var el = document.querySelector("input[name=csrfmiddlewaretoken]"); return el ? el.value : ""; }
  function send(url, method, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      if (r.status === 204) { return {}; }
      return r.json().then(function (data) { if (!r.ok) { throw data; } return data; });
    });
  }
  // A field's errors under the words its form shows for it (the label), not the API's field name.
  function fieldName(k, where) {
    var input = where && where.querySelector("[name='" + k + "']");
    var label = input && input.closest("label");
    var text = label && label.firstChild && label.firstChild.nodeType === 3 ? label.firstChild.textContent.trim() : "";
    return text || k;
  }
  function errorText(e, where) {
    if (!e) { return ""; }
    if (e.detail) { return e.detail; }
    return Object.keys(e).map(function (k) { return fieldName(k, where) + ": " + [].concat(e[k]).join(" "); }).join("; ");
  }

  var form = document.getElementById("run-form");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = document.getElementById("run-status");
      status.textContent = "…";
      var f = new FormData(form);
      send(form.dataset.api, "POST", {
        community: form.dataset.community, area_min: f.get("area_min"), area_max: f.get("area_max"),
        grid_min: f.get("grid_min"), grid_max: f.get("grid_max"), fresh: f.get("fresh") === "on"
      }).then(function (plan) {
        window.location = form.dataset.planUrl.replace("/0/", "/" + plan.id + "/");
      }).catch(function (e) { status.textContent = errorText(e, form); status.className = "error"; });
    });
  }

  var el = document.getElementById("map");
  if (!el || !el.dataset.plan) { return; }
  var labels = JSON.parse(document.getElementById("plan-labels").textContent);
  var api = el.dataset.api;
  var editable = el.dataset.editable === "1";
  var map = L.map(el, { maxZoom: 20 });
  if (el.dataset.basemap) { L.tileLayer(el.dataset.basemap, { maxZoom: 19 }).addTo(map); }
  var palette = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
                 "#008080", "#9a6324", "#800000", "#808000", "#000075", "#fabebe", "#ffd8b1", "#aaffc3"];
  function colour(code) { var n = parseInt(code.slice(-3), 10) || 0; return palette[n % palette.length]; }
  var areasLayer = null, cellsLayer = null, blocksLayer = null, selected = null, first = true;
  var state = { areas: 0, cells: 0, outOfRange: 0 };
  window.griddingPlan = { map: map, state: state };

  function draw() {
    return Promise.all([send(api + "areas/", "GET"), send(api + "cells/", "GET")]).then(function (res) {
      var areas = res[0], cells = res[1];
      if (areasLayer) { map.removeLayer(areasLayer); }
      if (cellsLayer) { map.removeLayer(cellsLayer); }
      state.outOfRange = 0;
      areasLayer = L.geoJSON(areas, {
        style: function (f) {
          var bad = !f.properties.in_range || f.properties.pieces > 1;
          var gridBad = f.properties.grid_in_range === false;  // its grid out of range: dashed
          if (bad) { state.outOfRange += 1; }
          return { color: bad || gridBad ? "#d50000" : "#333", weight: bad ? 3 : (gridBad ? 2 : 1),
                   dashArray: gridBad && !bad ? "5 4" : null, fillColor: colour(f.properties.grid_code),
                   fillOpacity: selected === f.properties.code ? 0.65 : 0.35,
                   className: "gg-plan-area" + (bad ? " gg-out" : "") + (gridBad ? " gg-grid-out" : "") };
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          layer.bindTooltip(String(p.households), { permanent: true, direction: "center", className: "gg-size" });
          layer.on("add", function () { toggleLabels(); });
          layer.on("click", function () { selectArea(p); });
        }
      }).addTo(map);
      cellsLayer = L.geoJSON(cells, {
        style: function () { return { color: "#555", weight: 0.5, fill: true, fillOpacity: 0, className: "gg-plan-cell" }; },
        onEachFeature: function (f, layer) {
          layer.on("click", function (ev) {
            if (!editable || !selected || f.properties.area_code === selected) { return; }
            L.DomEvent.stopPropagation(ev);
            moveCell(f.id, selected);
          });
        }
      });
      if (editable) { cellsLayer.addTo(map); }
      if (selected) {  // the selected area's size as it is now (or the selection dropped if it is gone)
        var still = areas.features.filter(function (f) { return f.properties.code === selected; })[0];
        if (still) { showSelection(still.properties); } else {
          selected = null;
          document.getElementById("selection").textContent = "";
        }
      }
      var blocks = JSON.parse(document.getElementById("plan-problems").textContent)
        .filter(function (p) { return p.geometry; });
      if (blocksLayer) { map.removeLayer(blocksLayer); blocksLayer = null; }
      if (blocks.length) {
        blocksLayer = L.geoJSON({ type: "FeatureCollection", features: blocks.map(function (p) {
          return { type: "Feature", geometry: p.geometry, properties: { message: p.message } }; }) }, {
          style: { color: "#e65100", weight: 3, dashArray: "6 4", fillOpacity: 0.15, className: "gg-infeasible" },
          interactive: false
        }).addTo(map);
      }
      state.areas = areas.features.length;
      state.cells = cells.features.length;
      if (first && areasLayer.getLayers().length) { map.fitBounds(areasLayer.getBounds()); first = false; }
      el.dataset.loaded = "1";
    });
  }

  // Size labels only when zoomed in far enough to read them.
  function toggleLabels() {
    var show = map.getZoom() >= 16;
    el.classList.toggle("labels-hidden", !show);
  }
  map.on("zoomend", toggleLabels);

  var mergeMode = false;

  function selectArea(p) {
    if (mergeMode && selected && p.code !== selected) {
      mergeMode = false;
      return post("merge/", { area: selected, other: p.code });
    }
    selected = p.code;
    showSelection(p);
    areasLayer.setStyle(areasLayer.options.style);
    if (cellsLayer && editable) { cellsLayer.bringToFront(); }
  }

  function showSelection(p) {
    document.getElementById("selection").innerHTML = "<b>" + labels.selected + "</b> <code>" + p.code + "</code>: " +
      p.households + " " + labels.households + " · " + labels.member + ": " + (p.member_name || labels.none) +
      (editable ? "<br><small>" + labels.select + "</small><br><button type='button' id='split'>" + labels.split +
        "</button> <button type='button' id='merge'>" + labels.merge + "</button>" : "");
    if (editable) {
      document.getElementById("split").onclick = function () { post("split/", { area: selected }); };
      document.getElementById("merge").onclick = function () {
        mergeMode = true;
        document.getElementById("plan-status").textContent = labels.merge_hint;
      };
    }
  }

  function moveCell(cellId, areaCode) { return post("move/", { cell: cellId, area: areaCode }, labels.moved); }

  // Every adjustment answers with the sizes it changed and the plan's problems and quality, checked again
  // in its transaction: the list, the figures and the map follow without a reload.
  function post(path, body, message) {
    var status = document.getElementById("plan-status");
    return send(api + path, "POST", body).then(function (res) {
      var sizes = res.sizes || {};
      status.textContent = (message || labels.changed) + " " + Object.keys(sizes).map(function (k) {
        var s = sizes[k]; return k.slice(-5) + ": " + s.households + (s.in_range ? "" : " (" + labels.out + ")");
      }).join(", ");
      status.className = "";
      if (res.problem_list) { showProblems(res.problem_list); }
      if (res.quality) { showQuality(res.quality); }
      return draw();
    }).catch(function (e) { status.textContent = labels.failed + ": " + errorText(e); status.className = "error"; });
  }

  function showProblems(rows) {
    var list = document.querySelector("#plan-problems-list ul.problems");
    if (!list) { return; }
    list.textContent = "";
    rows.forEach(function (row) {
      var li = document.createElement("li");
      li.className = row.kind;
      li.dataset.problem = row.index;
      li.dataset.code = row.code;
      li.appendChild(document.createTextNode(row.message));
      if (row.alternative) {
        li.appendChild(document.createTextNode(" — "));
        var alt = document.createElement("span");
        alt.className = "alternative";
        alt.textContent = row.alternative;
        li.appendChild(alt);
      }
      if (row.applicable && editable) {
        li.appendChild(document.createTextNode(" "));
        var button = document.createElement("button");
        button.type = "button";
        button.className = "apply-alternative";
        button.dataset.problem = row.index;
        button.dataset.code = row.code;
        button.dataset.token = row.token;
        button.textContent = labels.apply;
        li.appendChild(button);
      }
      list.appendChild(li);
    });
    document.getElementById("problem-count").textContent = "(" + rows.length + ")";
    document.querySelector("#plan-problems-list .no-problems").hidden = rows.length > 0;
  }

  function percent(x) { return x === null || x === undefined ? "" : Math.round(x * 100) + "%"; }
  function fixed(x) { return x === null || x === undefined || isNaN(x) ? "" : Number(x).toFixed(2); }
  function showQuality(q) {
    var set = function (id, text) { var dd = document.getElementById(id); if (dd) { dd.textContent = text; } };
    set("q-grids", String(q.grids));
    set("q-areas", String(q.areas));
    set("q-in-range", percent(q.areas_in_range));
    set("q-grids-in-range", percent(q.grids_in_range));
    set("q-multipart", String(q.multipart_polygons));
    set("q-gaps", fixed(q.gap_area_m2) + " / " + fixed(q.overlap_area_m2));
    set("q-pp", fixed(q.pp_mean) + " / " + fixed(q.pp_min));
    set("q-split", percent(q.buildings_split));
    set("q-kept", percent(q.kept_same_area));
    if (q.regrid_path) { set("q-path", pathText(q.regrid_path)); }
  }
  // The re-grid's path ("stored", "incremental", "full", perhaps with the engine's reason): the kind
  // translated (texts.regrid_path_text), the reason as given.
  function pathText(path) {
    var at = path.indexOf(" ("), kind = at < 0 ? path : path.slice(0, at);
    return (labels["path_" + kind] || kind) + (at < 0 ? "" : path.slice(at));
  }

  // A problem's nearest alternative applied in one step (an area's cells moved and areas merged, a grid's
  // areas moved and grids merged); named by its area or grid, so an old list is refused, not misapplied.
  var problemList = document.querySelector("#plan-problems-list ul.problems");
  if (problemList) {
    problemList.addEventListener("click", function (ev) {
      var button = ev.target.closest("button.apply-alternative");
      if (!button) { return; }
      button.disabled = true;
      post("apply/", {
        problem: parseInt(button.dataset.problem, 10), code: button.dataset.code, token: button.dataset.token
      }, labels.applied)
        .then(function () { button.disabled = false; });
    });
  }

  function action(id, path, message, after) {
    var button = document.getElementById(id);
    if (!button) { return; }
    button.addEventListener("click", function () {
      var status = document.getElementById("plan-status");
      button.disabled = true;
      send(api + path + "/", "POST").then(function (data) {
        status.textContent = message; status.className = "";
        if (after) { after(data); }
      }).catch(function (e) { button.disabled = false; status.textContent = labels.failed + ": " + errorText(e); status.className = "error"; });
    });
  }
  action("approve", "approve", labels.approved, function () { setTimeout(function () { window.location.reload(); }, 600); });
  action("discard", "discard", labels.discarded, function () { setTimeout(function () { window.location.reload(); }, 600); });
  action("restore", "restore", labels.restored, function (plan) { window.location = window.location.pathname.replace(/\/\d+\/$/, "/" + plan.id + "/"); });
  draw().catch(function (e) { document.getElementById("plan-status").textContent = labels.failed + ": " + errorText(e); });
})();
