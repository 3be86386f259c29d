"""ebRIM 3.0 XML binding: one module per object, each with its read and write function (ITI TF-3 4.2)."""
