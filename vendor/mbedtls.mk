# Builds mbedtls's library/*.c into one archive. Called by the top Makefile
# with OUT, CC, CFLAGS, CONFIG (our config header), SRCDIR and LIB; kept apart so the -j jobs of the main
# build can share it.
SRCS := $(wildcard $(SRCDIR)/*.c)
OBJS := $(patsubst $(SRCDIR)/%.c,$(OUT)/%.o,$(SRCS))
$(LIB): $(OBJS)
	@rm -f $@
	@ar rcs $@ $(OBJS)
$(OUT)/%.o: $(SRCDIR)/%.c $(CONFIG)
	@$(CC) $(CFLAGS) -DMBEDTLS_CONFIG_FILE='"$(CONFIG)"' -c $< -o $@
