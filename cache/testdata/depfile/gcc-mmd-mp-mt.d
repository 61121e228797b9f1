o u$t.o other.o: m\ a$$in.c dir\ with\ space/a\ b.h h$$ash\#.h back\sl.h \
 plain.h
dir\ with\ space/a\ b.h:
h$$ash\#.h:
back\sl.h:
plain.h:
