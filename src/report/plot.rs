//! Learning-curve and confusion-matrix pictures (plotters).
