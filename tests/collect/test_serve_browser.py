"""The page in a real headless Chromium (selenium + chromedriver): live frames, a class button,
a click on the live image saved as frame pixels, and a screenshot in tests/collect/artifacts/.

Skips, saying what to install, without Chromium/chromedriver (apt-get install -y chromium chromium-driver).

    .venv/bin/python -m pytest -q -m browser tests/collect
"""
import csv
import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,900", "--hide-scrollbars")


@pytest.fixture
def driver(browser_paths, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path / 'chrome-profile'}")
    opts.page_load_strategy = "eager"          # the MJPEG <img> never finishes loading
    d = webdriver.Chrome(service=Service(chromedriver), options=opts)
    d.set_script_timeout(20)
    yield d
    d.quit()


def until(fn, timeout=30.0, what="condition"):
    t_end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < t_end, f"timed out waiting for {what}"
        time.sleep(0.1)


def open_page(driver, srv, query=""):
    driver.get(srv.url + "/" + query)
    img = driver.find_element("id", "live")
    until(lambda: driver.execute_script("return arguments[0].naturalWidth", img) > 0, what="live frames in <img>")
    until(lambda: "fps" in driver.find_element("id", "stat").text, what="the status line")
    return img


def test_class_button_saves_a_frame(server, clip, colour_model, tmp_path, driver, artifacts):
    srv = server(clip, out=tmp_path / "data", classes="red,green,blue", model=colour_model, token="tok")
    open_page(driver, srv, "?token=tok")
    buttons = until(lambda: driver.find_elements("css selector", "button.cls"), what="class buttons")
    assert [b.get_attribute("data-cls") for b in buttons] == ["red", "green", "blue"]
    buttons[1].click()
    saved = until(lambda: list((tmp_path / "data" / "green").glob("*.jpg")), what="the saved frame")
    assert len(saved) == 1
    until(lambda: buttons[1].find_element("css selector", ".n").text == "1", what="the count on the button")
    until(lambda: "%" in driver.find_element("id", "pred").text, what="the model's prediction")
    stat = driver.find_element("id", "stat").text
    assert "infer" in stat and "320\u00d7240" in stat, stat
    driver.find_element("tag name", "body").send_keys("3")               # key 3 = blue
    until(lambda: list((tmp_path / "data" / "blue").glob("*.jpg")), what="the frame saved by key 3")
    driver.save_screenshot(str(artifacts / "serve_classify.png"))


def test_click_on_live_image_saves_frame_pixels(server, clip, tmp_path, driver, artifacts):
    from selenium.webdriver.common.action_chains import ActionChains

    srv = server(clip, out=tmp_path / "xy", task="regress")
    img = open_page(driver, srv)
    left, top, w, h, nw, nh = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height, arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
    assert (nw, nh) == (320, 240) and w > nw          # shown larger than the frame: the JS must scale
    clicks = [(0.25, 0.3), (0.8, 0.7)]                 # where to click, as fractions of the shown image
    for k, (fx, fy) in enumerate(clicks, start=1):
        x, y = int(left + fx * w), int(top + fy * h)   # viewport pixels
        actions = ActionChains(driver)
        actions.w3c_actions.pointer_action.move_to_location(x, y)
        actions.w3c_actions.pointer_action.click()
        actions.perform()
        until(lambda: (tmp_path / "xy" / "labels.csv").exists()
              and len((tmp_path / "xy" / "labels.csv").read_text().splitlines()) == k + 1, what=f"row {k}")
    rows = list(csv.DictReader((tmp_path / "xy" / "labels.csv").read_text().splitlines()))
    for row, (fx, fy) in zip(rows, clicks):
        want_x = (int(left + fx * w) - left) * nw / w
        want_y = (int(top + fy * h) - top) * nh / h
        assert abs(float(row["x"]) - want_x) <= 2 and abs(float(row["y"]) - want_y) <= 2, (row, want_x, want_y)
        assert (tmp_path / "xy" / row["image"]).is_file()
    until(lambda: "points 2" in driver.find_element("id", "total").text, what="the point count")
    driver.save_screenshot(str(artifacts / "serve_regress.png"))
