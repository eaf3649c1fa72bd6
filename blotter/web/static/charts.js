// Interactive charts, on request. The server's SVG is the chart; with JavaScript, each figure
// gains a button that loads Vega (from this portal, once) and redraws the same spec with
// tooltips. Nothing loads until a reader asks, so first page loads stay small.
(function () {
  "use strict";
  var loading = null;
  function vega() {
    if (window.vegaEmbed) return Promise.resolve(window.vegaEmbed);
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = "/assets/vega.js";
        script.onload = function () { resolve(window.vegaEmbed); };
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    return loading;
  }
  document.querySelectorAll("figure.chart").forEach(function (figure) {
    var spec = figure.querySelector("script.chart-spec");
    var picture = figure.querySelector(".chart-svg");
    if (!spec || !picture) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Interactive chart";
    button.setAttribute("aria-describedby", figure.id + "-title");
    button.addEventListener("click", function () {
      button.disabled = true;
      button.textContent = "Loading…";
      vega().then(function (embed) {
        var live = document.createElement("div");
        live.className = "chart-live";
        picture.replaceWith(live);
        // The phone's drawing goes too: the live chart fits any width itself.
        figure.querySelectorAll(".chart-svg").forEach(function (other) { other.remove(); });
        // The pages' content security policy allows no eval and no inline CSS: with ast, Vega
        // interprets its expressions instead of compiling them with Function(), and neither
        // Vega-Embed nor its tooltip adds a <style> element (blotter.css styles the tooltip).
        return embed(live, JSON.parse(spec.textContent), {
          actions: false,
          ast: true,
          defaultStyle: false,
          tooltip: { disableDefaultStyle: true }
        });
      }).then(function () {
        button.remove();
      }).catch(function () {
        button.disabled = false;
        button.textContent = "Interactive chart (failed; try again)";
      });
    });
    figure.insertBefore(button, figure.querySelector("details"));
  });
})();
