pub fn placeholder_unused() {}
