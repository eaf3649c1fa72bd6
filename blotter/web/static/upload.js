// Upload progress for large files. Without JavaScript the form posts normally; with it, the
// same request goes through XMLHttpRequest so the page can show how much has been sent.
(function () {
  "use strict";
  var form = document.getElementById("upload");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var box = document.getElementById("progress-box");
    var bar = document.getElementById("progress");
    var text = document.getElementById("progress-text");
    var request = new XMLHttpRequest();
    box.hidden = false;
    form.querySelector("button[type=submit]").disabled = true;
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      var percent = Math.floor((100 * e.loaded) / e.total);
      bar.value = percent;
      text.textContent = percent < 100 ? percent + "% sent" : "Sent; checking every row…";
    });
    request.addEventListener("load", function () {
      // The answer is the preview page (or an error page): show it as a normal navigation would.
      document.open();
      document.write(request.responseText);
      document.close();
    });
    request.addEventListener("error", function () {
      text.textContent = "The upload failed; check the connection and try again.";
      form.querySelector("button[type=submit]").disabled = false;
    });
    request.open("POST", form.action);
    request.send(new FormData(form));
  });
})();
