# sluice_add_plugin(NAME <name> SOURCES <files...> [LIBS <targets...>])
#
# Builds plugins/<name>.so beside the sluice binary (the loader finds built-in
# plugins there by name) and a static twin, plugin_<name>_static, that unit
# tests link so they need no dlopen.
function(sluice_add_plugin)
  cmake_parse_arguments(P "" "NAME" "SOURCES;LIBS" ${ARGN})
  set(obj plugin_${P_NAME}_obj)
  add_library(${obj} OBJECT ${P_SOURCES})
  target_link_libraries(${obj} PUBLIC sluice_sdk ${P_LIBS})
  target_compile_options(${obj} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  set_target_properties(${obj} PROPERTIES C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)

  add_library(plugin_${P_NAME} MODULE $<TARGET_OBJECTS:${obj}>)
  target_link_libraries(plugin_${P_NAME} PRIVATE ${P_LIBS})
  set_target_properties(plugin_${P_NAME} PROPERTIES PREFIX "" OUTPUT_NAME ${P_NAME}
    LIBRARY_OUTPUT_DIRECTORY ${SLUICE_PLUGIN_DIR})
  install(TARGETS plugin_${P_NAME} LIBRARY DESTINATION lib/sluice/plugins)

  add_library(plugin_${P_NAME}_static STATIC $<TARGET_OBJECTS:${obj}>)
  target_link_libraries(plugin_${P_NAME}_static PUBLIC sluice_sdk ${P_LIBS})
  add_dependencies(sluice plugin_${P_NAME})
endfunction()
