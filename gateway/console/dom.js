// Building elements. Values from the API are only ever set as text (textContent, attributes by name):
// nothing here parses HTML, so a value holding markup is shown as the characters it is.

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "selected", "required"]);

// h("p", {class: "note"}, "text", child, [more, children]) → <p class="note">text…</p>.
// attrs: "class", "for", "aria-*", "data-*", any attribute by name; "on<event>" takes a listener;
// value/checked/disabled/hidden/selected/required are set as properties. Children: strings and numbers
// become text nodes, nodes are appended, arrays are flattened, null/undefined/false are left out.
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (PROPERTIES.has(name)) {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Replace everything inside `element` with `children`.
export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

let lastId = 0;
export function uniqueId(prefix) {
  lastId += 1;
  return `${prefix}-${lastId}`;
}

// A labelled control: <div class="field"><label for=id>label</label>control<p hint></p></div>.
export function field(label, control, hint) {
  if (!control.id) control.id = uniqueId("field");
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintId = uniqueId("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

// A table: columns are [{label, value: (row) => text or node, numeric?}]; a caption names it.
export function table(caption, columns, rows) {
  const head = h("tr", {}, columns.map((column) => h("th", { scope: "col", class: column.numeric ? "numeric" : null }, column.label)));
  const body = rows.map((row) =>
    h("tr", {}, columns.map((column) => h("td", { class: column.numeric ? "numeric" : null }, column.value(row)))),
  );
  return h("table", {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body));
}

// Integer yen with digit grouping, from the int the API gives: BigInt refuses anything but an integer,
// so no fraction is ever rounded here.
export function groupDigits(amount) {
  return BigInt(amount).toLocaleString("ja-JP");
}
