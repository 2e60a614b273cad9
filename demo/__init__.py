"""`fieldkit demo`: the whole fleet on loopback (a truck with a camera and a drone, a
second truck, HQ and the city's sensors), scripted crews and the story they make.

It sits above every part, as a user does: it imports the core and each part's demo
pieces (:mod:`drone.demo`, :mod:`sync.demo`, :mod:`sensors.demo`, the console), and
nothing imports it; `fieldkit` finds its command through its ``fieldkit.parts`` entry
point (:mod:`demo.part`).
"""
