"""Composite stage: crop around a face, matte, colour match, blend, grain, highlights.

Pure numpy/OpenCV maths on crops; the engine (``pipeline.engine``) reads plates,
calls the swapper and pastes the result back inside the matte's box only.
"""
