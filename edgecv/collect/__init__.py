"""Collect datasets from a camera, and a browser UI for a headless Jetson.

`edgecv collect` is the desktop window (a key per class, or a click on the point); `edgecv serve`
is the same in a browser plus live predictions, fine-tuning and model switching. Both drive
`Collector` (collector.py), which the tests call directly. Modules: collector (the core, no UI),
live (source + model + overlay, from edgecv.runtime), jobs (training thread), app (FastAPI,
imported only by `edgecv serve`), page (the HTML/JS), cli and serve (the commands).

    edgecv serve --source /dev/video0 --out data/new --task classify --classes a,b,c
"""
