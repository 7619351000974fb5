// A form built from a finder item's missing_inputs (name, type, description, enum, default, bounds, problem).
// What the user types is sent as the API expects it; the API checks it and says what is wrong.

import { errorView } from "../../api.js";
import { field, h } from "../../dom.js";
import { t } from "../../i18n.js";

// inputsForm(item, given, submit): `given` are the inputs sent before (shown again); `submit(inputs)` runs
// with the inputs read from the form, or the form shows which field could not be read; an error `submit`
// throws (the API's) is shown in the form.
export function inputsForm(item, given, submit) {
  const controls = item.missing_inputs.map((input) => [input, control(input, given[input.name])]);
  const problems = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    {
      class: "inputs",
      "data-program": item.program,
      onsubmit: async (event) => {
        event.preventDefault();
        const read = readInputs(controls);
        if (read.error) {
          problems.replaceChildren(h("p", { class: "error", role: "alert" }, read.error));
          return;
        }
        try {
          await submit({ ...given, ...read.inputs });
        } catch (error) {
          problems.replaceChildren(errorView(error));
        }
      },
    },
    h("h4", {}, t("town.missing")),
    controls.map(([input, element]) => field(inputLabel(input), element, inputHint(input))),
    problems,
    h("button", { type: "submit" }, t("town.run")),
  );
  return form;
}

function inputLabel(input) {
  return `${input.description} (${input.name})`;
}

function inputHint(input) {
  const parts = [];
  if (input.type === "array") parts.push(t("town.inputArray"));
  if (input.default !== null && input.default !== undefined) parts.push(t("town.inputDefault", { value: JSON.stringify(input.default) }));
  if (input.problem) parts.push(input.problem);
  return parts.join(" / ");
}

function control(input, value) {
  const name = input.name;
  if (input.enum) return choice(name, input.enum.map((option) => [String(option), String(option)]), value);
  if (input.type === "boolean") return choice(name, [["true", t("town.yes")], ["false", t("town.no")]], value);
  if (input.type === "array") {
    return h("textarea", { name, rows: 3, value: value === undefined ? "" : JSON.stringify(value) });
  }
  if (input.type === "integer") {
    return h("input", { name, type: "number", step: 1, min: input.minimum, max: input.maximum, inputmode: "numeric", value: value ?? "" });
  }
  return h("input", { name, type: "text", value: value ?? "" });
}

function choice(name, options, value) {
  return h(
    "select",
    { name },
    h("option", { value: "" }, t("town.unset")),
    options.map(([optionValue, label]) => h("option", { value: optionValue, selected: String(value) === optionValue }, label)),
  );
}

// The form's values as the API takes them: integers as JSON integers, booleans, arrays parsed from JSON,
// anything else (exact decimals such as "0.012", enum values) as text. Empty fields are left out.
function readInputs(controls) {
  const inputs = {};
  for (const [input, element] of controls) {
    const text = element.value.trim();
    if (text === "") continue;
    // An integer beyond what JSON numbers hold exactly goes as text, for the API to refuse by name.
    if (input.type === "integer" && /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text))) {
      inputs[input.name] = Number(text);
    } else if (input.type === "boolean") {
      inputs[input.name] = text === "true";
    } else if (input.type === "array") {
      try {
        inputs[input.name] = JSON.parse(text);
      } catch {
        return { error: t("town.badJson", { field: input.name }) };
      }
    } else {
      inputs[input.name] = text;
    }
  }
  return { inputs };
}
