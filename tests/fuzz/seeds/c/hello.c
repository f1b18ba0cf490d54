// Seed program for the ELF reader's fuzz target: a small C executable with
// dynamic symbols, notes and (built with -g) DWARF sections.
#include <stdio.h>

static int square(int x) { return x * x; }

int main(int argc, char** argv) {
  (void)argv;
  printf("%d\n", square(argc));
  return 0;
}
