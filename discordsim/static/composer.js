// The message box. Typing "/" lists the commands the bot registered (as it declared them);
// picking one shows its options: choices as menus, ranges as number fields, attachments as
// file pickers. The first required text option is what follows the command in the box
// ("/create a red fox -ar 9:16"). Enter sends, through the same interaction Discord sends.

import { el, listItem } from "./render.js";

const SUB_COMMAND = 1, SUB_COMMAND_GROUP = 2, STRING = 3, INTEGER = 4, BOOLEAN = 5, USER = 6, CHANNEL = 7,
  ROLE = 8, MENTIONABLE = 9, NUMBER = 10, ATTACHMENT = 11;
const TYPE_NAMES = { 3: "text", 4: "whole number", 5: "true/false", 6: "member", 7: "channel", 8: "role",
  9: "member or role", 10: "number", 11: "file" };

function isGroup(option) {
  return option.type === SUB_COMMAND || option.type === SUB_COMMAND_GROUP;
}

// The option typed straight after the command in the box.
function primaryOf(options) {
  return options.find((o) => o.type === STRING && o.required && !(o.choices || []).length && !o.autocomplete) || null;
}

export class Composer {
  constructor(app) {
    this.app = app;
    this.input = document.getElementById("input");
    this.list = document.getElementById("suggestions");
    this.panel = document.getElementById("options");
    this.error = document.getElementById("composer-error");
    this.hint = document.getElementById("composer-hint");
    this.items = [];
    this.active = -1;
    this.leafKey = null;
    this.parsed = null;
    this.input.addEventListener("input", () => this.update());
    this.input.addEventListener("keydown", (event) => this.keydown(event));
    this.input.addEventListener("blur", () => setTimeout(() => this.hideList(), 150));
  }

  // Chat-input commands this member may use here (Discord's client hides the others).
  commands() {
    const state = this.app.state;
    if (!state) return [];
    const me = state.members.find((m) => m.id === this.app.me);
    const perms = BigInt(me ? me.permissions : "0");
    const inDm = this.app.currentChannel()?.type === 1;
    return state.commands.filter((c) => {
      if ((c.type ?? 1) !== 1) return false;
      if (inDm) return !c.guild_id && c.dm_permission !== false && (!c.contexts || c.contexts.includes(1));
      if (c.contexts && !c.contexts.includes(0)) return false;
      if (c.default_member_permissions != null) {
        const needed = BigInt(c.default_member_permissions);
        if ((perms & needed) !== needed) return false;
      }
      return true;
    });
  }

  reset() {
    this.input.value = "";
    this.leafKey = null;
    this.panel.replaceChildren();
    this.panel.hidden = true;
    this.update();
  }

  setPlaceholder(text) {
    this.input.placeholder = text;
  }

  // ---- reading the box ----------------------------------------------------------------

  parse(text) {
    const m = /^\/(\S*)(\s?)([\s\S]*)$/.exec(text);
    if (!m) return null;
    const [, name, space, after] = m;
    const all = this.commands();
    if (!space) {
      return { suggest: all.filter((c) => c.name.startsWith(name.toLowerCase())).map((c) => ({ label: "/" + c.name, description: c.description, fill: `/${c.name} ` })) };
    }
    const command = all.find((c) => c.name === name.toLowerCase());
    if (!command) return { unknown: name };
    let options = command.options || [];
    let rest = after;
    const path = [];
    let prefix = `/${command.name} `;
    while (options.some(isGroup)) {
      const w = /^(\S*)(\s?)([\s\S]*)$/.exec(rest);
      const word = w[1];
      if (!w[2]) {
        const choices = options.filter((o) => isGroup(o) && o.name.startsWith(word.toLowerCase()));
        return { command, suggest: choices.map((o) => ({ label: `${prefix}${o.name}`, description: o.description, fill: `${prefix}${o.name} ` })) };
      }
      const group = options.find((o) => isGroup(o) && o.name === word.toLowerCase());
      if (!group) return { command, unknownSub: word };
      path.push(group.name);
      prefix += group.name + " ";
      options = group.options || [];
      rest = w[3];
    }
    const description = path.length ? this.leafDescription(command, path) : command.description;
    return { command, path, options, rest, description };
  }

  leafDescription(command, path) {
    let options = command.options || [];
    let found = command;
    for (const name of path) {
      found = options.find((o) => o.name === name) || found;
      options = found.options || [];
    }
    return found.description;
  }

  update() {
    this.showError(null);
    const text = this.input.value;
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight, 200) + "px";
    const parsed = text.startsWith("/") ? this.parse(text) : null;
    this.parsed = parsed;
    if (parsed?.suggest) this.showList(parsed.suggest, parsed.command ? "Subcommands" : "Commands");
    else this.hideList();
    if (parsed?.options) {
      this.showOptions(parsed);
    } else {
      this.leafKey = null;
      this.panel.hidden = true;
      this.panel.replaceChildren();
    }
    if (parsed?.unknown !== undefined) this.hint.textContent = `No command /${parsed.unknown} here: type / to see the list.`;
    else if (parsed?.unknownSub !== undefined) this.hint.textContent = `/${parsed.command.name} has no subcommand ${parsed.unknownSub}.`;
    else if (parsed?.options) {
      const primary = primaryOf(parsed.options);
      this.hint.textContent = primary ? `${primary.name}: ${primary.description} · Enter sends` : "Fill in the options above · Enter sends";
    } else this.hint.textContent = text ? "Enter sends · Shift+Enter: new line" : "Type / for the commands";
  }

  // ---- suggestions --------------------------------------------------------------------

  showList(items, title) {
    this.items = items;
    this.list.replaceChildren(el("li", "title", items.length ? title : "No match"));
    items.forEach((item, i) => {
      const li = el("li");
      li.setAttribute("role", "option");
      li.dataset.fill = item.fill;
      li.append(el("span", "name", item.label), el("span", "desc", item.description || ""));
      li.addEventListener("mousedown", (event) => { event.preventDefault(); this.pick(i); });
      this.list.append(li);
    });
    this.active = items.length ? 0 : -1;
    this.mark();
    this.list.hidden = false;
  }

  hideList() {
    this.list.hidden = true;
    this.items = [];
    this.active = -1;
  }

  mark() {
    [...this.list.querySelectorAll("li[role=option]")].forEach((li, i) => li.classList.toggle("active", i === this.active));
  }

  pick(i) {
    const item = this.items[i];
    if (!item) return;
    this.input.value = item.fill;
    this.input.focus();
    this.update();
  }

  keydown(event) {
    const listing = !this.list.hidden && this.items.length;
    if (listing && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.items.length) % this.items.length;
      this.mark();
      return;
    }
    if (listing && (event.key === "Tab" || (event.key === "Enter" && !event.shiftKey))) {
      event.preventDefault();
      this.pick(Math.max(0, this.active));
      return;
    }
    if (event.key === "Escape") {
      this.hideList();
      return;
    }
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      this.send();
    }
  }

  // ---- the options panel --------------------------------------------------------------

  showOptions(parsed) {
    const key = [parsed.command.id, ...parsed.path].join(" ") + JSON.stringify(parsed.options);
    if (key === this.leafKey) return;  // keep what was filled in
    this.leafKey = key;
    const primary = primaryOf(parsed.options);
    const others = parsed.options.filter((o) => o !== primary);
    this.panel.replaceChildren();
    const title = el("div", "cmd-title");
    title.append(el("b", null, ["/" + parsed.command.name, ...parsed.path].join(" ")), ` — ${parsed.description || ""}`);
    this.panel.append(title);
    if (primary) {
      const note = el("div", "opt primary-opt");
      note.append(el("span", "opt-name", primary.name), ` (${primary.required ? "required" : "optional"}): typed after the command in the box`);
      this.panel.append(note);
    }
    for (const option of others) this.panel.append(this.field(option, parsed));
    this.panel.hidden = false;
  }

  field(option, parsed) {
    const box = el("label", "opt");
    const name = el("span", "opt-name", option.name);
    if (option.required) name.append(el("span", "req", " *"));
    box.append(name);
    let input;
    const choices = option.choices || [];
    if (option.type === ATTACHMENT) {
      input = el("input");
      input.type = "file";
    } else if (choices.length || option.type === BOOLEAN || [USER, CHANNEL, ROLE, MENTIONABLE].includes(option.type)) {
      input = el("select");
      const none = el("option", null, option.required ? "— choose —" : "— not set —");
      none.value = "";
      input.append(none);
      for (const choice of this.choicesOf(option)) {
        const item = el("option", null, choice.name);
        item.value = String(choice.value);
        input.append(item);
      }
    } else {
      input = el("input");
      if (option.type === INTEGER || option.type === NUMBER) {
        input.type = "number";
        input.step = option.type === INTEGER ? "1" : "any";
        if (option.min_value != null) input.min = String(option.min_value);
        if (option.max_value != null) input.max = String(option.max_value);
      } else {
        input.type = "text";
        if (option.max_length != null) input.maxLength = option.max_length;
        if (option.min_length != null) input.minLength = option.min_length;
      }
      const range = [option.min_value ?? option.min_length, option.max_value ?? option.max_length];
      if (range[0] != null || range[1] != null) {
        input.placeholder = option.type === STRING ? `${range[0] ?? 0}–${range[1] ?? "…"} characters` : `${range[0] ?? "…"} to ${range[1] ?? "…"}`;
      }
      if (option.autocomplete) this.autocomplete(input, option, parsed, box);
    }
    input.name = option.name;
    input.dataset.option = option.name;
    input.dataset.type = String(option.type);
    box.append(input, el("span", "opt-desc", `${option.description || ""} (${TYPE_NAMES[option.type] || "value"})`));
    return box;
  }

  choicesOf(option) {
    if ((option.choices || []).length) return option.choices;
    const state = this.app.state;
    if (option.type === BOOLEAN) return [{ name: "True", value: "true" }, { name: "False", value: "false" }];
    if (option.type === USER) return state.members.map((m) => ({ name: m.name, value: m.id }));
    if (option.type === ROLE) return state.roles.map((r) => ({ name: "@" + r.name, value: r.id }));
    if (option.type === MENTIONABLE) return [...state.members.map((m) => ({ name: m.name, value: m.id })), ...state.roles.map((r) => ({ name: "@" + r.name, value: r.id }))];
    if (option.type === CHANNEL) return this.app.channelsOf(option.channel_types).map((c) => ({ name: "#" + c.name, value: c.id }));
    return [];
  }

  autocomplete(input, option, parsed, box) {
    const list = el("ul", "choices");
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const result = await this.app.post("/sandbox/autocomplete", {
          member: this.app.me, channel: this.app.current, command: parsed.command.name,
          subcommand: parsed.path.join(" ") || null, options: { ...this.values(parsed).options, [option.name]: input.value },
          focused: option.name,
        });
        list.replaceChildren();
        for (const choice of result.choices || []) {
          const item = el("button", null, choice.name);
          item.type = "button";
          item.addEventListener("mousedown", (event) => { event.preventDefault(); input.value = String(choice.value); list.replaceChildren(); });
          list.append(listItem(item));
        }
      }, 250);
    });
    box.append(list);
  }

  // ---- sending ------------------------------------------------------------------------

  values(parsed) {
    const options = {};
    const files = {};
    const primary = primaryOf(parsed.options);
    if (primary && parsed.rest.trim()) options[primary.name] = parsed.rest.trim();
    for (const input of this.panel.querySelectorAll("[data-option]")) {
      const type = Number(input.dataset.type);
      if (type === ATTACHMENT) {
        if (input.files && input.files[0]) files[input.name] = input.files[0];
      } else if (input.value !== "") {
        options[input.name] = type === INTEGER ? Number.parseInt(input.value, 10)
          : type === NUMBER ? Number(input.value)
          : type === BOOLEAN ? input.value === "true" : input.value;
      }
    }
    return { options, files };
  }

  check(parsed, options, files) {
    const primary = primaryOf(parsed.options);
    if (!primary && parsed.rest.trim()) return `/${parsed.command.name} takes its options in the fields above, not in the box`;
    for (const option of parsed.options) {
      const value = option.type === ATTACHMENT ? files[option.name] : options[option.name];
      if (value === undefined) {
        if (option.required) return `${option.name} is required`;
        continue;
      }
      if (option.type === STRING) {
        if (option.min_length != null && value.length < option.min_length) return `${option.name} must be at least ${option.min_length} characters`;
        if (option.max_length != null && value.length > option.max_length) return `${option.name} must be at most ${option.max_length} characters`;
      }
      if (option.type === INTEGER || option.type === NUMBER) {
        if (Number.isNaN(value) || (option.type === INTEGER && !Number.isInteger(value))) return `${option.name} must be a ${TYPE_NAMES[option.type]}`;
        if (option.min_value != null && value < option.min_value) return `${option.name} must be at least ${option.min_value}`;
        if (option.max_value != null && value > option.max_value) return `${option.name} must be at most ${option.max_value}`;
      }
    }
    return null;
  }

  async send() {
    const text = this.input.value;
    if (!text.trim()) return;
    if (!text.startsWith("/")) {
      const result = await this.app.post("/sandbox/say", { member: this.app.me, channel: this.app.current, content: text });
      if (result.error) this.showError(result.error);
      else this.reset();
      return;
    }
    const parsed = this.parse(text);
    if (!parsed?.options) {
      this.showError(parsed?.unknown !== undefined ? `/${parsed.unknown} is not a command here` : "Pick a command from the list");
      return;
    }
    const { options, files } = this.values(parsed);
    const problem = this.check(parsed, options, files);
    if (problem) {
      this.showError(problem);
      return;
    }
    const payload = { member: this.app.me, channel: this.app.current, command: parsed.command.name,
      subcommand: parsed.path.join(" ") || null, options };
    this.input.disabled = true;
    this.hint.textContent = "Sending command…";
    let result;
    try {
      if (Object.keys(files).length) {
        const form = new FormData();
        form.append("payload", JSON.stringify(payload));
        for (const [name, file] of Object.entries(files)) form.append(name, file, file.name);
        result = await this.app.post("/sandbox/slash", form);
      } else {
        result = await this.app.post("/sandbox/slash", payload);
      }
    } finally {
      this.input.disabled = false;
      this.input.focus();
    }
    if (result.error && !result.interaction) {
      this.showError(result.error);
      this.update();
      return;
    }
    this.reset();
    if (result.error) this.showError(result.error);
    if (result.modal) this.app.openModal(result.interaction, result.modal);
  }

  showError(text) {
    this.error.hidden = !text;
    this.error.textContent = text || "";
  }
}
