// Loads the script of the page's view and draws it into #view.
import { failure } from "./lib.js";

const view = document.body.dataset.view;
const root = document.getElementById("view");
import(`./views/${view}.js`)
  .then((module) => module.render(root))
  .catch((error) => failure(root, error));
