/* Preloaded into aimass under valgrind by bench/gateway_callgrind.sh. libhwy (loaded with
 * OpenCV's image codecs) calibrates a timer with rdtscp when it is loaded, and valgrind 3.19
 * stops there with SIGILL on some CPUs. Nothing the bench counts uses that timer: the
 * calibration is answered here instead. Built with a version script naming HWY_0, the
 * version libhwy's own definition carries, so that the dynamic linker binds its call here. */
unsigned long long hwy_timer_resolution(void) __asm__("_ZN3hwy8platform15TimerResolutionEv");
unsigned long long hwy_timer_resolution(void) { return 1; }
