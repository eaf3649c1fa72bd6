// The interactive map, when JavaScript and Leaflet are there: the same boundaries and points
// as the server's picture, which it replaces. Points close together on screen are drawn as
// one circle with their count, recomputed at every zoom. A large view arrives as small cells
// with their counts ("n", of the page's unit), so every row is on the map, not a first page of them. Tiles
// only if the portal names a tile server; otherwise the map needs nothing but this portal.
(function () {
  "use strict";
  var box = document.querySelector(".map-live");
  if (!box || !window.L || !window.fetch) return;
  var map = L.map(box, { preferCanvas: true, attributionControl: true });
  if (box.dataset.tiles) {
    L.tileLayer(box.dataset.tiles, { attribution: box.dataset.attribution, maxZoom: 19 }).addTo(map);
  }
  var points = [];
  // The deployment's own layers (streets, parks), served by this portal, in a pane under
  // the boundaries and the points; their credit joins the map's attribution.
  var under = map.createPane("layers");
  under.style.zIndex = 350;
  under.style.pointerEvents = "none";
  var text = function (s) {
    var span = document.createElement("span");
    span.textContent = s;
    return span.innerHTML;
  };
  JSON.parse(box.dataset.layers || "[]").forEach(function (own) {
    fetch(own.url).then(function (r) { return r.json(); }).then(function (found) {
      L.geoJSON(found, {
        pane: "layers",
        renderer: L.svg({ pane: "layers" }),
        interactive: false,
        style: function (f) {
          var line = /LineString/.test(f.geometry.type);
          return line ? { color: "#9aa3ad", weight: 1, fill: false }
                      : { color: "#c9d6c4", weight: 0.5, fillColor: "#e6eee3", fillOpacity: 0.8 };
        }
      }).addTo(map);
      map.attributionControl.addAttribution(text(own.credit));
    }).catch(function () { /* the points stay */ });
  });
  var layer = L.layerGroup().addTo(map);
  // Hotspot cells lie above the clusters (the marker pane is at 600), and let clicks through.
  var hotPane = map.createPane("hotspots");
  hotPane.style.zIndex = 650;
  hotPane.style.pointerEvents = "none";
  var CELL = 40; // pixels

  // A click on the map sets the filter form's "within" field to that point (keeping a radius
  // already typed, else 250 m) and opens the form, whose Apply button runs it; without
  // JavaScript the same field takes typed coordinates.
  var near = document.querySelector('input[name$="__near"]');
  var said = document.createElement("p");
  said.className = "map-said";
  said.setAttribute("role", "status");
  box.parentNode.insertBefore(said, box.nextSibling);
  var chosen = null;
  if (near) {
    map.on("click", function (e) {
      var parts = near.value.split(",");
      var metres = parts.length === 3 && parseFloat(parts[2]) > 0 ? parseFloat(parts[2]) : 250;
      var lat = e.latlng.lat.toFixed(5), lng = e.latlng.lng.toFixed(5);
      near.value = lat + "," + lng + "," + metres;
      var form = near.closest("details");
      if (form) form.open = true;
      if (chosen) chosen.remove();
      chosen = L.circle(e.latlng, { radius: metres, color: "#1b1f24", weight: 2, fill: false }).addTo(map);
      said.textContent = "Point filter set to within " + metres + " m of " + lat + ", " + lng +
        ": choose Apply filters to use it.";
    });
  }

  function draw() {
    layer.clearLayers();
    var cells = {};
    points.forEach(function (p) {
      var at = map.latLngToLayerPoint(p);
      var key = Math.floor(at.x / CELL) + ":" + Math.floor(at.y / CELL);
      (cells[key] = cells[key] || []).push(p);
    });
    Object.keys(cells).forEach(function (key) {
      var group = cells[key];
      var lat = 0, lng = 0, rows = 0;
      group.forEach(function (p) { lat += p.lat * p.rows; lng += p.lng * p.rows; rows += p.rows; });
      var centre = L.latLng(lat / rows, lng / rows);
      if (rows === 1) {
        L.circleMarker(centre, { radius: 5, color: "#b3261e", weight: 1, fillOpacity: 0.8 }).addTo(layer);
      } else {
        var size = 20 + Math.min(16, Math.round(Math.log(rows) * 3));
        L.marker(centre, {
          icon: L.divIcon({ className: "cluster", html: rows.toLocaleString(), iconSize: [size, size] }),
          title: rows + " " + (box.dataset.noun || "rows") + " here; zoom in to see them apart",
          keyboard: false
        }).addTo(layer);
      }
    });
  }

  var loads = [fetch(box.dataset.points).then(function (r) { return r.json(); })];
  loads.push(box.dataset.boundary
    ? fetch(box.dataset.boundary).then(function (r) { return r.json(); })
    : Promise.resolve(null));
  if (box.dataset.hotspots) {
    // Gi* cells, when the reader asked for hotspots: hot and cold drawn above the clusters.
    fetch(box.dataset.hotspots).then(function (r) { return r.json(); }).then(function (cells) {
      var colours = { hot: "#b3261e", cold: "#0b5cad" };
      L.geoJSON(cells, {
        pane: "hotspots",
        renderer: L.svg({ pane: "hotspots" }),
        interactive: false,
        filter: function (f) { return f.properties.kind !== "not significant"; },
        style: function (f) {
          return { color: colours[f.properties.kind], weight: 0, fillOpacity: 0.45 };
        }
      }).addTo(map);
      var legend = L.control({ position: "bottomleft" });
      legend.onAdd = function () {
        var div = L.DomUtil.create("div", "map-legend");
        div.innerHTML = '<span class="swatch hot"></span> hot <span class="swatch cold"></span> cold' +
          "<br>Gi*, 5% false discovery rate";
        return div;
      };
      legend.addTo(map);
    }).catch(function () { /* the points stay */ });
  }
  Promise.all(loads).then(function (found) {
    points = found[0].features.filter(function (f) { return f.geometry; }).map(function (f) {
      var at = L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]);
      at.rows = Number((f.properties && (f.properties.n || f.properties.rows)) || 1);
      return at;
    });
    var bounds = L.latLngBounds(points);
    if (found[1]) {
      var lines = L.geoJSON(found[1], { style: { color: "#4a5360", weight: 1.5, fillOpacity: 0.04 } }).addTo(map);
      bounds = points.length ? bounds.extend(lines.getBounds()) : lines.getBounds();
    }
    if (!bounds.isValid()) return;
    box.hidden = false;
    document.querySelector(".map-static").hidden = true;
    map.invalidateSize();
    map.fitBounds(bounds, { padding: [10, 10] });
    map.on("zoomend", draw);
    draw();
  }).catch(function () { /* the server's picture stays */ });
})();
