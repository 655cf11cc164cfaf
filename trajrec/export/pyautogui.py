"""Actions as PyAutoGUI code, coordinates normalised to the screenshot (0..1), the form AgentNet and the
UI-TARS/Aguvis prompts train on. Every string from a bundle enters the code as a Python literal (repr), so no
text typed or spoken can become code."""

from __future__ import annotations

from trajrec.actions import Action

# Our key names where PyAutoGUI's differ (pyautogui.KEYBOARD_KEYS)
KEY_NAMES = {
    "super": "win",
    "meta": "win",
    "cmd": "command",
    "escape": "esc",
    "return": "enter",
    "page_up": "pageup",
    "page_down": "pagedown",
    "caps_lock": "capslock",
    "num_lock": "numlock",
    "print_screen": "printscreen",
    "scroll_lock": "scrolllock",
    "ctrl_l": "ctrlleft",
    "ctrl_r": "ctrlright",
    "shift_l": "shiftleft",
    "shift_r": "shiftright",
    "alt_l": "altleft",
    "alt_r": "altright",
    "alt_gr": "altright",
}
BUTTONS = {"left": "click", "right": "rightClick", "middle": "middleClick"}
MULTI = {2: "doubleClick", 3: "tripleClick"}


def key_name(key: str) -> str:
    k = key.lower()
    return KEY_NAMES.get(k, k)


def _xy(p: tuple[float, float] | None) -> str:
    return "" if p is None else f"x={p[0]:.4f}, y={p[1]:.4f}"


def code(a: Action, at: tuple[float, float] | None, to: tuple[float, float] | None = None) -> str:
    """The PyAutoGUI call(s) for `a`; `at` (and `to` for a drag) are its positions normalised to the screenshot."""
    if a.kind == "click":
        fn = MULTI.get(a.count) if a.button == "left" else None
        if fn is not None:
            return f"pyautogui.{fn}({_xy(at)})"
        fn = BUTTONS.get(a.button or "left")
        if fn is None:  # another button: the generic call
            return f"pyautogui.click({_xy(at)}, clicks={a.count}, button={a.button!r})".replace("(, ", "(")
        return f"pyautogui.{fn}({_xy(at)}{f', clicks={a.count}' if a.count > 1 else ''})".replace("(, ", "(")
    if a.kind == "drag":
        return f"pyautogui.moveTo({_xy(at)})\npyautogui.dragTo({_xy(to)}, button={a.button or 'left'!r})"
    if a.kind == "scroll":
        calls = []
        if a.dy:
            calls.append(f"pyautogui.scroll({-a.dy}{', ' + _xy(at) if at else ''})")
        if a.dx:
            calls.append(f"pyautogui.hscroll({a.dx}{', ' + _xy(at) if at else ''})")
        return "\n".join(calls) or "pass"
    if a.kind == "type":
        return f"pyautogui.write({a.text or ''!r})"
    if a.kind == "hotkey":
        keys = [key_name(k) for k in a.keys]
        if len(keys) == 1:
            return f"pyautogui.press({keys[0]!r})"
        return f"pyautogui.hotkey({', '.join(repr(k) for k in keys)})"
    if a.kind == "move":
        return f"pyautogui.moveTo({_xy(at)})" if at else "pass"
    if a.kind == "marker":
        return f"# marker: {a.text or ''!r}"
    return "pass"
