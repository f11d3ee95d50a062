/* The segment row builder: rows of (field, operator, value) written into the query text box
   as the same query language a person would type. No build step, no dependencies; htmx
   picks up the "input" event this dispatches and refreshes the live count. */
(function () {
  "use strict";

  const BARE = /^[^\s(),"'=!<>]+$/;
  const RESERVED = /^(and|or|not|in|contains|starts|ends|with|is|set)$/i;
  const NO_VALUE = new Set(["is_set", "is_not_set"]);
  const LISTS = new Set(["in", "not_in"]);

  function quote(value) {
    const text = value.trim();
    if (BARE.test(text) && !RESERVED.test(text)) return text;
    return '"' + text.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  function element(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => node.setAttribute(key, value));
    (children || []).forEach((child) => node.append(child));
    return node;
  }

  function option(value, label, selected) {
    const node = element("option", { value: value }, [label]);
    node.selected = Boolean(selected);
    return node;
  }

  function start(root) {
    const fields = JSON.parse(document.getElementById(root.dataset.fields).textContent);
    const initial = JSON.parse(document.getElementById(root.dataset.initial).textContent);
    const target = document.getElementById(root.dataset.target);
    const rowsList = root.querySelector("[data-rows]");
    const join = root.querySelector("[data-join]");
    const note = root.querySelector("[data-note]");
    const byName = new Map(fields.map((field) => [field.name, field]));
    let counter = 0;

    function known(name) {
      if (byName.has(name)) return name;
      const hit = fields.find((field) => field.name.toLowerCase() === name.toLowerCase());
      return hit ? hit.name : null;
    }

    function conditionText(row) {
      const field = byName.get(row.field.value);
      const op = row.op.value;
      if (!field || !op) return "";
      const ops = new Map(field.ops.map((item) => [item.value, item.label]));
      const word = ops.get(op) || op;
      if (NO_VALUE.has(op)) return `${field.name} ${word}`;
      const raw = row.value.value.trim();
      if (!raw) return "";
      if (LISTS.has(op)) {
        const values = raw.split(",").map((v) => v.trim()).filter(Boolean).map(quote);
        return `${field.name} ${word} (${values.join(", ")})`;
      }
      return `${field.name} ${word} ${quote(raw)}`;
    }

    function rows() {
      return Array.from(rowsList.querySelectorAll(".builder-row")).map((li) => li.builderRow);
    }

    function write() {
      const parts = rows().map(conditionText).filter(Boolean);
      target.value = parts.join(` ${join.value} `);
      note.hidden = true;
      target.dispatchEvent(new Event("input", { bubbles: true }));
    }

    function fillOps(row, wanted) {
      const field = byName.get(row.field.value);
      row.op.replaceChildren(...field.ops.map((item) => option(item.value, item.label, item.value === wanted)));
      row.datalist.replaceChildren(...field.choices.map((choice) => option(choice, choice)));
      fitValue(row);
    }

    function fitValue(row) {
      const op = row.op.value;
      row.value.hidden = NO_VALUE.has(op);
      row.value.placeholder = LISTS.has(op) ? "one, two, three" : "value";
    }

    function addRow(data) {
      counter += 1;
      const listId = `builder-choices-${counter}`;
      const row = {
        field: element("select", { "aria-label": "Field", name: "" }, fields.map((f) => option(f.name, f.name))),
        op: element("select", { "aria-label": "Operator", name: "" }),
        value: element("input", { type: "text", "aria-label": "Value", list: listId, autocomplete: "off" }),
        datalist: element("datalist", { id: listId }),
        remove: element("button", { type: "button", class: "secondary outline", "aria-label": "Remove condition", title: "Remove condition" }, ["×"]),
      };
      const li = element("li", { class: "builder-row" }, [row.field, row.op, row.value, row.datalist, row.remove]);
      li.builderRow = row;
      row.field.value = data ? known(data.field) : fields[0].name;
      fillOps(row, data ? data.op : null);
      row.value.value = data && data.value ? data.value : "";
      fitValue(row);
      row.field.addEventListener("change", () => { fillOps(row, row.op.value); write(); });
      row.op.addEventListener("change", () => { fitValue(row); write(); });
      row.value.addEventListener("input", write);
      row.remove.addEventListener("click", () => { li.remove(); write(); });
      rowsList.append(li);
      return row;
    }

    root.querySelector("[data-add]").addEventListener("click", () => {
      const row = addRow(null);
      row.field.focus();
      write();
    });
    join.addEventListener("change", write);
    target.addEventListener("input", (event) => {
      // Typed by hand: the rows may no longer say the same thing as the text.
      if (event.isTrusted && rows().length) note.hidden = false;
    });

    if (initial && initial.rows.every((row) => known(row.field))) {
      join.value = initial.join;
      initial.rows.forEach(addRow);
    } else if (target.value.trim()) {
      note.hidden = false;
    }
    root.hidden = false;
  }

  function toggleQuery() {
    const section = document.querySelector("[data-query-section]");
    const checked = document.querySelector("input[name=kind]:checked");
    if (section && checked) section.hidden = checked.value !== "dynamic";
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-builder]").forEach(start);
    document.querySelectorAll("input[name=kind]").forEach((input) => input.addEventListener("change", toggleQuery));
    toggleQuery();
  });
})();
