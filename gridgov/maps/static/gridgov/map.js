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

  function load(kind) {
    return fetchAll(api + kind + "/?format=json&page_size=5000", []).then(function (features) {
      var layer = L.geoJSON({ type: "FeatureCollection", features: features }, {
        style: function () { return styles[kind]; },
        onEachFeature: function (f, l) {
          l.bindTooltip(escapeHtml(f.properties.name), { sticky: true });
          l.on("click", function () { document.getElementById("map-info").innerHTML = describe(kind, f.properties); });
        }
      });
      overlays[labels[kind]] = layer;
      counts[kind] = features.length;
      layer.addTo(map);
      return layer;
    });
  }

  var kinds = ["streets", "communities", "grids", "areas"];
  Promise.all(kinds.map(load)).then(function (layers) {
    var bounds = L.latLngBounds([]);
    layers.forEach(function (l) { if (l.getLayers().length) { bounds.extend(l.getBounds()); } });
    if (bounds.isValid()) { map.fitBounds(bounds); }
    L.control.layers(null, overlays).addTo(map);
    var dl = document.getElementById("map-counts");
    dl.innerHTML = kinds.map(function (k) { return "<dt>" + labels[k] + "</dt><dd data-kind='" + k + "'>" + counts[k] + "</dd>"; }).join("");
    document.getElementById("map-status").textContent = labels.loaded;
    state.loaded = 1;
    el.dataset.loaded = "1";
  }).catch(function (err) {
    state.failed = true;
    document.getElementById("map-status").textContent = labels.failed + " (" + err.message + ")";
  });
})();
