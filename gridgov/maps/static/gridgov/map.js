/* gridgov map page: draws the hierarchy the user may see from the scoped GeoJSON API.
   No internet: Leaflet is served locally; the basemap is optional and configured by the server. */
(function () {
  "use strict";
  var el = document.getElementById("map");
  var labels = JSON.parse(document.getElementById("map-labels").textContent);
  var api = el.dataset.api;
  var map = L.map(el, { preferCanvas: false, maxZoom: 19 }).setView([22.58, 114.26], 12);
  if (el.dataset.basemap) {
    L.tileLayer(el.dataset.basemap, { attribution: el.dataset.attribution, maxZoom: 19 }).addTo(map);
  }
  var styles = {
    streets: { color: "#1f4e79", weight: 3, fill: false, className: "gg-street" },
    communities: { color: "#2e7d32", weight: 2, fillOpacity: 0.05, className: "gg-community" },
    grids: { color: "#e65100", weight: 1.5, fillOpacity: 0.08, className: "gg-grid" },
    areas: { color: "#8e24aa", weight: 0.7, dashArray: "3 3", fillOpacity: 0.02, className: "gg-area" }
  };
  var overlays = {};
  var counts = {};
  var state = { loaded: 0, failed: false };
  window.gridgovMap = { map: map, layers: overlays, counts: counts, state: state };

  function fetchAll(url, acc) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (page) {
        var fc = page.features ? page : page.results;
        acc.push.apply(acc, fc.features);
        return page.next ? fetchAll(page.next, acc) : acc;
      });
  }

  function describe(kind, p) {
    var rows = ["<b>" + escapeHtml(p.name) + "</b>", "<code>" + escapeHtml(p.code) + "</code>"];
    if (p.member_name) { rows.push(labels.member + ": " + escapeHtml(p.member_name)); }
    if (p.leader_name) { rows.push(labels.leader + ": " + escapeHtml(p.leader_name)); }
    if (p.household_count !== undefined && p.household_count !== null) { rows.push(p.household_count + " " + labels.households); }
    return rows.join("<br>");
  }

  function escapeHtml(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function makeLayer(kind) {
    return L.geoJSON(null, {
      style: function () { return styles[kind]; },
      onEachFeature: function (f, l) {
        l.bindTooltip(escapeHtml(f.properties.name), { sticky: true });
        l.on("click", function () { document.getElementById("map-info").innerHTML = describe(kind, f.properties); });
      }
    });
  }

  // A scope with more features of a kind than `allUpTo` (a city: tens of thousands of areas) is drawn
  // by viewport: that kind appears from zoom `minZoom[kind]` on, and only what is in view is fetched.
  var allUpTo = parseInt(el.dataset.allUpTo || "4000", 10);
  var minZoom = { streets: 0, communities: 0, grids: 14, areas: 15 };
  var byViewport = {};
  var pending = {};

  function loadView(kind) {
    var layer = overlays[labels[kind]];
    if (map.getZoom() < minZoom[kind]) {
      layer.clearLayers();
      drawn[kind] = 0;
      showHint();
      return Promise.resolve();
    }
    var token = (pending[kind] || 0) + 1;
    pending[kind] = token;
    var b = map.getBounds();
    var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
    return fetchAll(api + kind + "/?format=json&page_size=5000&in_bbox=" + bbox, []).then(function (features) {
      if (pending[kind] !== token) { return; } // the view moved on: a later answer is coming
      layer.clearLayers();
      layer.addData({ type: "FeatureCollection", features: features });
      drawn[kind] = features.length;
      showHint();
    });
  }

  function showHint() {
    var hidden = Object.keys(byViewport).filter(function (k) { return map.getZoom() < minZoom[k]; });
    document.getElementById("map-status").textContent = hidden.length ? labels.zoom_in : labels.loaded;
  }

  var drawn = {};
  function load(kind) {
    var layer = makeLayer(kind);
    overlays[labels[kind]] = layer;
    layer.addTo(map);
    return fetch(api + kind + "/?format=json&page_size=1", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (first) {
        counts[kind] = first.count;
        if (first.count > allUpTo) {
          byViewport[kind] = true;
          return layer;
        }
        return fetchAll(api + kind + "/?format=json&page_size=5000", []).then(function (features) {
          layer.addData({ type: "FeatureCollection", features: features });
          drawn[kind] = features.length;
          return layer;
        });
      });
  }

  var kinds = ["streets", "communities", "grids", "areas"];
  window.gridgovMap.drawn = drawn;
  Promise.all(kinds.map(load)).then(function (layers) {
    var bounds = L.latLngBounds([]);
    layers.forEach(function (l) { if (l.getLayers().length) { bounds.extend(l.getBounds()); } });
    if (bounds.isValid()) { map.fitBounds(bounds, { animate: false }); }
    L.control.layers(null, overlays).addTo(map);
    var dl = document.getElementById("map-counts");
    dl.innerHTML = kinds.map(function (k) { return "<dt>" + labels[k] + "</dt><dd data-kind='" + k + "'>" + counts[k] + "</dd>"; }).join("");
    var viewKinds = Object.keys(byViewport);
    var refresh = function () { return Promise.all(viewKinds.map(loadView)); };
    if (viewKinds.length) { map.on("moveend", refresh); }
    return refresh();
  }).then(function () {
    showHint();
    state.loaded = 1;
    el.dataset.loaded = "1";
  }).catch(function (err) {
    state.failed = true;
    document.getElementById("map-status").textContent = labels.failed + " (" + err.message + ")";
  });
})();
