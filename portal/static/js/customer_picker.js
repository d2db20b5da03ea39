// Customer pickers (templates/admin/customer_picker.html): the text box becomes an ARIA
// combobox with a listbox popup (WAI-ARIA APG, "editable combobox with list autocomplete")
// that asks the server (GET data-search-url?q=, JSON) for the customers matching what is
// typed. Down and Up move through the list, Enter picks, Escape closes it. Picking fills in
// the name and the hidden customer id; editing the text forgets the pick, and the server
// then resolves the text as an exact name or ledger code, as it does without this script.
// A file, not an inline script: the CSP runs no inline code.
(() => {
  const WAIT_MS = 150; // after the last key, before asking the server

  function enhance(picker) {
    const input = picker.querySelector("[data-picker-text]");
    const hidden = picker.querySelector("[data-picker-id]");
    const label = picker.querySelector(`label[for="${input.id}"]`);
    const url = picker.dataset.searchUrl;

    const list = document.createElement("ul");
    list.id = `${input.id}-listbox`;
    list.className = "picker-list";
    list.setAttribute("role", "listbox");
    if (label) {
      label.id = label.id || `${input.id}-label`;
      list.setAttribute("aria-labelledby", label.id);
    }
    list.hidden = true;
    const status = document.createElement("div");
    status.className = "picker-status muted";
    status.setAttribute("aria-live", "polite");
    input.after(list, status);

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);

    let found = []; // the customers the list shows, as the server sent them
    let active = -1; // index of the option the keyboard is on
    let timer = null; // a search waiting for the typing to pause
    let asked = 0; // number of the latest search: a slower, older answer is dropped

    const isOpen = () => !list.hidden;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      setActive(-1);
    }

    function open() {
      if (!found.length) return;
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function setActive(index) {
      active = index;
      list.querySelectorAll("[role=option]").forEach((option, i) => {
        option.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index < 0) {
        input.removeAttribute("aria-activedescendant");
        return;
      }
      const option = list.children[index];
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }

    function render(customers) {
      found = customers;
      active = -1;
      list.replaceChildren(
        ...customers.map((customer, i) => {
          const option = document.createElement("li");
          option.id = `${list.id}-${i}`;
          option.setAttribute("role", "option");
          option.setAttribute("aria-selected", "false");
          option.dataset.index = String(i);
          // textContent only: a customer's name is data, never markup.
          const name = document.createElement("span");
          name.textContent = customer.name;
          option.append(name);
          const more = [customer.ledger_code, customer.email].filter(Boolean);
          if (customer.is_test) more.push("test customer");
          if (more.length) {
            const detail = document.createElement("span");
            detail.className = "muted";
            detail.textContent = ` · ${more.join(" · ")}`;
            option.append(detail);
          }
          return option;
        }),
      );
      if (customers.length) {
        status.textContent = `${customers.length} ${customers.length === 1 ? "customer" : "customers"} found.`;
        open();
      } else {
        status.textContent = "No customer matches.";
        close();
      }
    }

    function search() {
      clearTimeout(timer);
      timer = null;
      const query = input.value.trim();
      const number = ++asked;
      if (!query) {
        found = [];
        status.textContent = "";
        close();
        return;
      }
      fetch(`${url}?q=${encodeURIComponent(query)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
        .then((customers) => {
          if (number === asked) render(customers);
        })
        .catch(() => {
          if (number !== asked) return;
          found = [];
          close();
          status.textContent = "The search did not answer: type the exact name or ledger code.";
        });
    }

    function pick(index) {
      const customer = found[index];
      if (!customer) return;
      input.value = customer.name;
      hidden.value = String(customer.id);
      close();
      status.textContent = `${customer.name} chosen.`;
    }

    input.addEventListener("input", () => {
      hidden.value = ""; // the text changed: whatever was picked no longer stands
      clearTimeout(timer);
      timer = setTimeout(search, WAIT_MS);
    });

    input.addEventListener("keydown", (event) => {
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          if (timer) {
            search(); // what is listed is for older text: ask now, pick once it answers
          } else if (!isOpen()) {
            if (found.length) {
              open();
              setActive(0);
            } else {
              search();
            }
          } else {
            setActive((active + 1) % found.length);
          }
          break;
        case "ArrowUp":
          if (!isOpen()) break;
          event.preventDefault();
          setActive(active <= 0 ? found.length - 1 : active - 1);
          break;
        case "Enter":
          if (!isOpen()) break; // a closed list: Enter submits the form as usual
          event.preventDefault();
          if (active >= 0) pick(active);
          else close();
          break;
        case "Escape":
          if (!isOpen()) break;
          event.preventDefault();
          close();
          break;
        case "Tab":
          close();
          break;
        default:
      }
    });

    // Mouse: keep the focus in the text box while an option is clicked.
    list.addEventListener("mousedown", (event) => event.preventDefault());
    list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) pick(Number(option.dataset.index));
    });
    input.addEventListener("blur", close);
  }

  document.querySelectorAll("[data-customer-picker]").forEach(enhance);
})();
