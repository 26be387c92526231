"""What a form's result becomes on disk.

- :mod:`~ifb1.outputs.folder`: one form's folder as ``ifb1 process`` writes it (prints, preview,
  ``result.json``), PNG with its resolution;
- :mod:`~ifb1.outputs.staging`: the batch's output folder, each form staged whole by a worker and
  published under its final names once registered in the record;
- :mod:`~ifb1.outputs.summary`: the operator's plain-text summary of one form.

Nothing here imports numpy at module level.
"""
