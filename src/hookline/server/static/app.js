// hookline UI: the few behaviours plain HTML forms lack. No framework, no build step.
document.addEventListener("DOMContentLoaded", () => {
  // Changing the type of a new connection reloads the form with that type's fields.
  const type = document.getElementById("conn_type");
  if (type && type.dataset.reload === "yes") {
    type.addEventListener("change", () => {
      const id = document.getElementById("connection_id");
      const params = new URLSearchParams({ conn_type: type.value });
      window.location.search = params.toString() + (id && id.value ? "" : "");
    });
  }
  // Destructive forms ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
